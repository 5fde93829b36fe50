"""ASGI ``lifespan`` events for roomcast and the application it wraps.

roomcast starts first (its adapters are up before the application's startup code runs) and
closes first on shutdown (its clients are told ``server shutting down`` while the
application's resources, a database pool, are still there). An application that does not
speak the lifespan protocol (it raises before reading the first event, as the ASGI
specification lets it) does not keep roomcast from starting and stopping.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from .types import ASGIApplication, Message, Receive, Scope, Send

__all__ = ["run_lifespan"]

logger = logging.getLogger("roomcast")

Hook = Callable[[], Awaitable[None]]


async def run_lifespan(
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    startup: Hook,
    shutdown: Hook,
    app: ASGIApplication | None,
) -> None:
    """Serve one ``lifespan`` scope: ``startup``/``shutdown`` around ``app``'s own."""
    read = False

    async def relay() -> Message:
        nonlocal read
        message = await receive()
        read = True
        kind = message["type"]
        if kind == "lifespan.startup":
            await startup()
        elif kind == "lifespan.shutdown":
            await shutdown()
        return message

    if app is not None:
        try:
            await app(scope, relay, send)
            return
        except Exception:
            if read:
                raise
            logger.debug("the mounted application does not handle lifespan events")
    await _own_lifespan(receive, send, startup, shutdown)


async def _own_lifespan(receive: Receive, send: Send, startup: Hook, shutdown: Hook) -> None:
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "lifespan.startup":
            try:
                await startup()
            except Exception as exc:
                logger.exception("roomcast failed to start")
                await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif kind == "lifespan.shutdown":
            try:
                await shutdown()
            except Exception as exc:
                logger.exception("roomcast failed to shut down")
                await send({"type": "lifespan.shutdown.failed", "message": repr(exc)})
                return
            await send({"type": "lifespan.shutdown.complete"})
            return
