"""The app of the `--workers` tests: says which process serves each socket; rooms and relays."""

from __future__ import annotations

import os
from typing import Any

from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket

io = Server()


@io.on("connection")
def connected(socket: Socket) -> None:
    socket.emit("hello", os.getpid())


@io.on("join")
def join(socket: Socket, room: str) -> str:
    socket.join(room)
    return "joined"


@io.on("shout")
def shout(socket: Socket, room: str, message: Any) -> str:
    io.to(room).emit("news", message)
    return "sent"


@io.on("count")
async def count(socket: Socket, room: str) -> int:
    return len(await io.in_(room).fetch_sockets())
