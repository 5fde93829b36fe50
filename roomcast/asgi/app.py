"""``ASGIApp``: a roomcast server as an ASGI 3 application, alone or in front of another."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, Protocol

from ..engine.engine import Engine
from ..engine.http import Response
from .http import send_response, serve_http
from .lifespan import run_lifespan
from .request import route_path
from .types import ASGIApplication, Receive, Scope, Send
from .websocket import serve_websocket

__all__ = ["ASGIApp"]

_NOT_FOUND = Response(404, [("Content-Type", "text/plain")], b"Not Found")


class Servable(Protocol):
    """What :class:`ASGIApp` serves: a :class:`roomcast.Server` (or anything with an engine
    that starts and closes like it)."""

    @property
    def engine(self) -> Engine: ...

    async def start(self) -> None: ...

    async def close(self, timeout: float = 10.0) -> None: ...


class ASGIApp:
    """Serve ``io`` (a :class:`roomcast.Server` or a bare :class:`~roomcast.engine.Engine`) to
    an ASGI server (uvicorn, hypercorn, granian), on one port with another application.

    Requests whose path, below the mount point, is ``path`` are Engine.IO's: polling
    over ``http`` scopes, WebSocket over ``websocket`` scopes. Every other request goes to
    ``other_asgi_app`` (404, or a refused WebSocket, without one). Lifespan events start
    ``io`` (its adapters) before ``other_asgi_app`` starts and close it (clients are told
    ``server shutting down``, within ``shutdown_timeout`` seconds) before it stops.

    Mounted with ``app.mount(...)``, this app gets no lifespan events (Starlette sends them to
    the outer app only): pass :meth:`lifespan` to the outer app, ``FastAPI(lifespan=
    sio.lifespan)``, or wrap it instead, ``ASGIApp(io, other_asgi_app=app)``. Without
    lifespan events, ``io`` starts on its first request and is not closed gracefully.

    Path rules: the path matched is ``scope["path"]`` less ``scope["root_path"]``, so under
    ``app.mount("/ws", ASGIApp(io))`` the client connects with ``path="/ws/socket.io/"``, and
    behind uvicorn's ``--root-path /api`` with ``path="/api/socket.io/"``. ``path`` gets its
    leading and trailing slash (``"socket.io"`` is ``"/socket.io/"``), and is served with or
    without the trailing slash; ``path="/"`` serves the mount point itself
    (``app.mount("/socket.io", ASGIApp(io, path="/"))``). Paths below ``path``
    (``/socket.io/socket.io.js``) go to ``other_asgi_app``.
    """

    def __init__(
        self,
        io: Servable | Engine,
        other_asgi_app: ASGIApplication | None = None,
        path: str = "/socket.io/",
        *,
        shutdown_timeout: float = 10.0,
    ) -> None:
        self.io = io
        self.engine = io if isinstance(io, Engine) else io.engine
        self.other_asgi_app = other_asgi_app
        stripped = path.strip("/")
        self.path = "/" + stripped + "/" if stripped else "/"
        self.shutdown_timeout = shutdown_timeout
        self._started = False

    def __repr__(self) -> str:
        return f"<ASGIApp {self.path} {self.engine!r}>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await run_lifespan(
                scope,
                receive,
                send,
                startup=self.startup,
                shutdown=self.shutdown,
                app=self.other_asgi_app,
            )
            return
        if kind in ("http", "websocket") and self._serves(route_path(scope)):
            if not self._started:  # the ASGI server sends no lifespan events (--lifespan off)
                await self.startup()
            if kind == "http":
                await serve_http(self.engine, scope, receive, send)
            else:
                await serve_websocket(self.engine, scope, receive, send)
            return
        if self.other_asgi_app is not None:
            await self.other_asgi_app(scope, receive, send)
        elif kind == "http":
            await send_response(send, _NOT_FOUND)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1000})

    def _serves(self, path: str) -> bool:
        # Exactly the engine path (clients request nothing below it): the rest, such as
        # <path>socket.io.js, is the other app's to serve.
        return path == self.path or path + "/" == self.path

    async def startup(self) -> None:
        """Start ``io`` (once): what the lifespan startup event does."""
        if not self._started:
            self._started = True
            if not isinstance(self.io, Engine):
                await self.io.start()

    async def shutdown(self) -> None:
        """Close ``io`` gracefully: what the lifespan shutdown event does."""
        self._started = False
        await self.io.close(self.shutdown_timeout)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any = None) -> AsyncIterator[None]:
        """``io``'s life as an async context manager, for an outer app's lifespan
        (``FastAPI(lifespan=sio.lifespan)``, or ``async with sio.lifespan():`` in yours)."""
        await self.startup()
        try:
            yield
        finally:
            await self.shutdown()
