"""The FastAPI application of the ASGI tests: a REST route and roomcast on one port.

``ROOMCAST_ASGI_LAYOUT`` picks how roomcast is put in it: ``mount`` (``app.mount("/ws",
ASGIApp(io))``, clients use ``path="/ws/socket.io/"``, roomcast's life on FastAPI's lifespan)
``root`` (``app.mount("/socket.io", ASGIApp(io, path="/"))``) or ``wrap`` (``ASGIApp(io,
other_asgi_app=app)``); with the last two, clients keep the default ``/socket.io/``. Life-cycle
steps are printed, one a line, on stdout: the tests read their order.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from roomcast import MemoryAdapter, Server, Socket
from roomcast.asgi import ASGIApp


def say(line: str) -> None:
    print(line, flush=True)


class TracedAdapter(MemoryAdapter):
    """The memory adapter, saying when it starts and stops."""

    async def init(self) -> None:
        say(f"adapter init {self.nsp.name}")

    async def close(self) -> None:
        say(f"adapter close {self.nsp.name}")


io = Server(
    adapter=TracedAdapter,
    ping_interval=float(os.environ.get("PING_INTERVAL", "25")),
    max_write_buffer=int(os.environ.get("MAX_WRITE_BUFFER", str(4 << 20))),
)


@io.on("connection")
async def connected(socket: Socket) -> None:
    socket.emit("welcome", socket.id)


@io.on("disconnect")
async def disconnected(socket: Socket, reason: str) -> None:
    say(f"disconnect {reason}")


@io.on("echo")
async def echo(socket: Socket, *args: Any) -> Any:
    return args[0] if len(args) == 1 else list(args)


@io.on("flood")
async def flood(socket: Socket, count: int, size: int) -> None:
    """Send ``count`` messages of ``size`` characters, yielding between them."""
    for _ in range(count):
        if not socket.connected:
            return
        socket.emit("bulk", "x" * size)
        await asyncio.sleep(0)


@io.on("join")
async def join(socket: Socket, room: str) -> str:
    socket.join(room)
    return room


@io.on("say")
async def speak(socket: Socket, room: str, text: str) -> None:
    io.to(room).emit("said", text)


layout = os.environ.get("ROOMCAST_ASGI_LAYOUT", "mount")
sio = ASGIApp(io, path="/" if layout == "root" else "/socket.io/")


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    if layout in ("mount", "root"):
        async with sio.lifespan():  # roomcast up first, closed (clients told) first
            say("app startup")
            yield
        say("app shutdown")
    else:
        say("app startup")
        yield
        say("app shutdown")


api = FastAPI(lifespan=lifespan)


@api.get("/api/health")
async def health() -> dict[str, Any]:
    return {"ok": True, "sockets": len(io.sockets.sockets)}


if layout == "mount":
    api.mount("/ws", sio)
    app: Any = api
elif layout == "root":  # every path below the mount point is roomcast's
    api.mount("/socket.io", sio)
    app = api
else:
    app = ASGIApp(io, other_asgi_app=api)
