"""The app of the `--workers` tests: says which process serves each socket; rooms and relays."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from roomcast.engine.http import Request, Response
from roomcast.errors import SocketDisconnected
from roomcast.socketio.handlers import spawn
from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket

io = Server()


@io.engine.use
def refuse_marked(request: Request) -> Response | None:
    """An engine middleware: refuses the requests marked so (it runs on every server that
    serves a request, the upgrades of moving sessions included)."""
    return Response(403, [], b"refused") if "x-refuse" in request.headers else None


@io.on("connection")
def connected(socket: Socket) -> None:
    if socket.recovered:  # moved here from another server with its session: it said hello
        return
    socket.emit("hello", os.getpid())
    socket.data["first"] = os.getpid()
    if socket.handshake.auth.get("late"):
        spawn(_late(socket))
    if socket.handshake.auth.get("bytes"):  # not JSON: the session cannot move
        socket.data["raw"] = b"\x00"
    burst = socket.handshake.auth.get("burst")
    if isinstance(burst, int):  # events queued at once, more than one polling answer holds
        socket.join("lobby")
        for index in range(burst):
            socket.emit("n", index, "x" * 1000)


async def _late(socket: Socket) -> None:
    """Waits for an ack the client never sends; still running here after the socket's
    session moved to another server (the wait fails then): say so."""
    try:
        await socket.emit_with_ack("pending")
        outcome = "answered"
    except SocketDisconnected:
        outcome = "SocketDisconnected"
    socket.emit("late", os.getpid(), outcome)


@io.on("slow")
async def slow(socket: Socket) -> int:
    """Answers once the socket's session has moved to another server (or disconnected)."""
    socket.emit("started", os.getpid())
    while socket.connected:
        await asyncio.sleep(0.01)
    return os.getpid()


@io.on("spoil")
def spoil(socket: Socket) -> None:
    """Makes ``socket.data`` unfit for JSON: from now on, the session cannot move."""
    socket.data["raw"] = b"\x00"
    socket.emit("spoiled", os.getpid())


@io.on("echo")
def echo(socket: Socket, data: Any) -> Any:
    return data


@io.on("where")
def where(socket: Socket) -> int:
    return os.getpid()


@io.on("state")
def state(socket: Socket) -> dict[str, Any]:
    return {
        "data": {k: v for k, v in socket.data.items() if k != "raw"},
        "rooms": sorted(socket.rooms - {socket.id}),
        "id": socket.id,
        "transport": socket.conn.transport_name,
    }


@io.on("ask")
async def ask(socket: Socket) -> Any:
    return await socket.emit_with_ack("question", timeout=10)


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
