"""Nothing leaks: after every client leaves, the server holds no session, socket, room or
pending ack, and the memory it allocated for them is given back."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio

from roomcast.errors import AckTimeoutError, SocketDisconnected
from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket

from .conftest import WAIT, leftovers, no_leftovers

CLIENTS = 40
WARM_UP = 2
"""Rounds that fill the bounded caches (urllib's ``urlsplit`` keeps the last 128 URLs)."""
ROUNDS = 3
GROWTH_BOUND = 256 << 10
"""Bytes the whole process (server and python-socketio clients) may keep, traced by
tracemalloc, after ``ROUNDS`` more rounds compared with after the warm-up: the clients'
bounded caches (yarl's URLs) may still fill up, nothing else should."""
SERVER_GROWTH_BOUND = 16 << 10
"""Bytes that code in ``roomcast/`` allocated and still holds, same comparison."""
ROOMCAST = [tracemalloc.Filter(True, "*/roomcast/*")]


@pytest.fixture
async def io(port: int) -> AsyncIterator[Server]:
    io = Server(connect_timeout=5)
    holds: list[asyncio.Future[Any]] = []

    @io.on("connection")
    def connected(socket: Socket) -> None:
        # an ack the client never gives: waits in the socket's map until it disconnects
        holds.append(asyncio.ensure_future(socket.emit_with_ack("hold")))

    @io.on("join")
    def join(socket: Socket, room: str) -> str:
        socket.join([room, "all"])
        return room

    @io.on("shout")
    async def shout(socket: Socket) -> Any:
        try:
            return await io.to("all").timeout(0.2).emit_with_ack("ping")
        except AckTimeoutError as exc:
            return exc.responses

    await io.listen("127.0.0.1", port)
    io.holds = holds  # type: ignore[attr-defined]
    yield io
    await io.close(timeout=1)


async def one_round(io: Server, url: str) -> None:
    clients = []
    for n in range(CLIENTS):
        client = socketio.AsyncClient(reconnection=False)
        held = asyncio.Event()

        @client.on("hold")
        async def hold(held: asyncio.Event = held) -> None:
            await held.wait()  # never answers before the client leaves

        client.on("ping", lambda: "pong")
        transports = ["websocket"] if n % 2 else ["polling", "websocket"]
        await client.connect(url, transports=transports, wait_timeout=WAIT)
        assert await client.call("join", f"room-{n % 5}", timeout=WAIT) == f"room-{n % 5}"
        clients.append((client, held))
    answers = await clients[0][0].call("shout", timeout=WAIT)
    assert answers is not None and 0 < len(answers) <= CLIENTS
    assert leftovers(io)  # the server does hold them now
    for client, held in clients:
        await client.disconnect()
        held.set()
    await no_leftovers(io)
    holds: list[asyncio.Future[Any]] = io.holds  # type: ignore[attr-defined]
    for hold in holds:
        with pytest.raises(SocketDisconnected):
            await asyncio.wait_for(hold, WAIT)
    holds.clear()


async def test_every_client_leaves_nothing_behind(io: Server) -> None:
    url = f"http://127.0.0.1:{io.listener.port}"
    tracemalloc.start()
    try:
        for _ in range(WARM_UP):
            await one_round(io, url)
        gc.collect()
        start = tracemalloc.get_traced_memory()[0]
        before = tracemalloc.take_snapshot().filter_traces(ROOMCAST)
        for _ in range(ROUNDS):
            await one_round(io, url)
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - start
        after = tracemalloc.take_snapshot().filter_traces(ROOMCAST)
    finally:
        tracemalloc.stop()
    server_growth = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    print(f"traced growth over {ROUNDS} rounds: {growth} B, by roomcast: {server_growth} B")
    assert growth < GROWTH_BOUND
    assert server_growth < SERVER_GROWTH_BOUND
