"""Connection state recovery with the official client: Node's socket.io-client 4.8 drops its
connection, misses broadcasts, comes back, and gets its socket (id, rooms, data) and every
missed event back, in order, before anything new; or does not, where Node's rules say so.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import connect as ws_connect

from roomcast.rooms.memory import MemoryAdapter
from roomcast.socketio.recovery import RecoveryOptions
from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket
from tests.proxy import Proxy

from .conftest import WAIT, NodeClient, NodeDriver, until, url_of

N = 25
"""Broadcasts sent while the client is away."""

TRANSPORTS = {"websocket": ["websocket"], "polling": ["polling"]}


class Chat:
    """A server whose sockets join ``room`` and get ``data["user"]`` on their first connection;
    records what the ``connection`` and ``disconnect`` handlers saw."""

    def __init__(self, io: Server) -> None:
        self.io = io
        self.connections: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()
        self.disconnects: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        io.on("connection", self.on_connection)
        io.on("disconnect", lambda s, reason: self.disconnects.put_nowait((s.id, reason)))

    def on_connection(self, socket: Socket) -> None:
        if not socket.recovered:
            socket.join("room")
            socket.data["user"] = "ann"
        self.connections.put_nowait((socket.id, socket.recovered))

    async def connected(self) -> tuple[str, bool]:
        return await asyncio.wait_for(self.connections.get(), WAIT)

    async def disconnected(self) -> tuple[str, str]:
        return await asyncio.wait_for(self.disconnects.get(), WAIT)


@pytest.fixture(params=list(TRANSPORTS))
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def driver(node: str) -> AsyncIterator[NodeDriver]:
    driver = await NodeDriver.start(node)
    try:
        yield driver
    finally:
        await driver.close()


async def serve(window: float = 120.0, **options: Any) -> Server:
    io = Server(
        connection_state_recovery=RecoveryOptions(max_disconnection_duration=window), **options
    )
    await io.listen("127.0.0.1", 0)
    return io


async def reconnected(driver: NodeDriver, client: NodeClient) -> dict[str, Any]:
    """Reconnect ``client`` by hand and return its ``{"sid", "recovered"}``."""
    await driver.command("reconnect", name=client.name)
    return await asyncio.wait_for(client.connects.get(), WAIT)


async def messages(client: NodeClient, count: int) -> list[Any]:
    """The first argument of the next ``count`` ``msg`` events."""
    return [(await client.next_event("msg"))[0] for _ in range(count)]


async def test_a_dropped_client_gets_back_its_socket_and_every_missed_event(
    driver: NodeDriver, transport: str
) -> None:
    io = await serve()
    chat = Chat(io)
    try:
        client = NodeClient(driver, TRANSPORTS[transport])
        await client.connect(url_of(io))
        assert await chat.connected() == (client.sid, False)
        io.to("room").emit("msg", 0)
        assert await messages(client, 1) == [0]

        await client.close_transport()
        assert await chat.disconnected() == (client.sid, "transport close")
        for i in range(1, N + 1):
            io.to("room").emit("msg", i)
        io.volatile.to("room").emit("msg", "volatile: not kept")
        io.to("room").emit("msg", "binary", b"\x00\x01\xff")

        assert await reconnected(driver, client) == {
            "type": "connect",
            "name": client.name,
            "sid": client.sid,
            "recovered": True,
        }
        assert await chat.connected() == (client.sid, True)
        socket = io.sockets.sockets[str(client.sid)]
        assert socket.recovered and socket.rooms == {client.sid, "room"}
        assert socket.data == {"user": "ann"}
        io.to("room").emit("msg", "new")
        socket.emit("msg", "just you")
        assert await messages(client, N) == [*range(1, N + 1)]
        binary = await client.next_event("msg")
        assert binary[:2] == ["binary", b"\x00\x01\xff"] and isinstance(binary[2], str)
        assert await messages(client, 2) == ["new", "just you"]
    finally:
        await io.close()


async def test_the_offset_is_the_last_argument_of_each_event(driver: NodeDriver) -> None:
    io = await serve()
    chat = Chat(io)
    try:
        client = NodeClient(driver, ["websocket"])
        await client.connect(url_of(io))
        await chat.connected()
        io.emit("msg", "to all")
        io.sockets.sockets[str(client.sid)].emit("msg", "to one")
        first = await client.next_event("msg")
        second = await client.next_event("msg")
        assert first[0] == "to all" and second[0] == "to one"
        assert len(first) == len(second) == 2
        assert isinstance(first[1], str) and isinstance(second[1], str) and first[1] != second[1]
    finally:
        await io.close()


async def test_past_the_window_the_client_connects_as_a_new_socket(driver: NodeDriver) -> None:
    io = await serve(window=0.5)
    chat = Chat(io)
    try:
        client = NodeClient(driver, ["websocket"])
        await client.connect(url_of(io))
        await chat.connected()
        io.to("room").emit("msg", 0)
        await messages(client, 1)
        await client.close_transport()
        await chat.disconnected()
        io.to("room").emit("msg", "missed")
        adapter = io.sockets.adapter
        assert isinstance(adapter, MemoryAdapter)
        await until(lambda: not adapter.recovery.sessions)

        again = await reconnected(driver, client)
        assert again["recovered"] is False and again["sid"] != client.sid
        assert await chat.connected() == (again["sid"], False)
        io.to("room").emit("msg", "new")
        assert await messages(client, 1) == ["new"]
    finally:
        await io.close()


async def test_after_a_server_side_disconnect_the_client_is_not_recovered(
    driver: NodeDriver,
) -> None:
    io = await serve()
    chat = Chat(io)
    try:
        client = NodeClient(driver, ["websocket"])
        await client.connect(url_of(io))
        await chat.connected()
        io.to("room").emit("msg", 0)
        await messages(client, 1)
        # first a drop and a recovery: the session is used up (Node would keep it, and
        # recover the socket below with the rooms it had before the drop)
        await client.close_transport()
        await chat.disconnected()
        assert (await reconnected(driver, client))["recovered"] is True
        await chat.connected()

        io.sockets.sockets[str(client.sid)].disconnect()
        assert await chat.disconnected() == (client.sid, "server namespace disconnect")
        again = await reconnected(driver, client)
        assert again["recovered"] is False and again["sid"] != client.sid
        assert await chat.connected() == (again["sid"], False)
    finally:
        await io.close()


async def test_a_client_disconnect_is_not_recoverable(driver: NodeDriver) -> None:
    io = await serve()
    chat = Chat(io)
    try:
        # a second socket keeps the connection open: the DISCONNECT alone ends the socket
        io.of("/other")
        other = NodeClient(driver, ["websocket"], manager="m")
        await other.connect(url_of(io), "/other")
        client = NodeClient(driver, ["websocket"], manager="m")
        await client.connect(url_of(io))
        await chat.connected()
        io.to("room").emit("msg", 0)
        await messages(client, 1)
        await client.disconnect()
        assert await chat.disconnected() == (client.sid, "client namespace disconnect")
        assert (await reconnected(driver, client))["recovered"] is False
    finally:
        await io.close()


async def test_the_client_reconnecting_by_itself_loses_nothing(driver: NodeDriver) -> None:
    """Broadcasts go on while the client reconnects on its own: each arrives once, in order,
    whether it was missed or sent after the client came back."""
    io = await serve()
    chat = Chat(io)
    try:
        client = NodeClient(driver, ["websocket"])
        await driver.command(
            "connect",
            name=client.name,
            url=url_of(io),
            nsp="/",
            transports=["websocket"],
            reconnection=True,
        )
        sid, _ = await chat.connected()
        io.to("room").emit("msg", 0)
        await messages(client, 1)
        await client.close_transport()
        count = 0
        while chat.connections.empty():
            count += 1
            io.to("room").emit("msg", count)
            await asyncio.sleep(0.001)  # a broadcast rate, not a synchronisation
        assert await chat.connected() == (sid, True)
        io.to("room").emit("msg", "new")
        assert await messages(client, count + 1) == [*range(1, count + 1), "new"]
        assert count > 0
    finally:
        await io.close()


async def test_skip_middlewares_false_runs_them_and_loses_nothing_meanwhile(
    driver: NodeDriver,
) -> None:
    io = Server(
        connection_state_recovery=RecoveryOptions(skip_middlewares=False),
    )
    await io.listen("127.0.0.1", 0)
    chat = Chat(io)
    seen: list[bool] = []
    release = asyncio.Event()

    async def middleware(socket: Socket) -> None:
        seen.append(socket.recovered)
        if socket.recovered:
            assert socket.data == {"user": "ann"}
            await release.wait()

    io.use(middleware)
    try:
        client = NodeClient(driver, ["websocket"])
        await client.connect(url_of(io))
        await chat.connected()
        io.to("room").emit("msg", 0)
        await messages(client, 1)
        await client.close_transport()
        await chat.disconnected()
        io.to("room").emit("msg", 1)
        await driver.command("reconnect", name=client.name)
        await until(lambda: len(seen) == 2)
        io.to("room").emit("msg", 2)  # while the middleware runs
        release.set()
        assert (await asyncio.wait_for(client.connects.get(), WAIT))["recovered"] is True
        io.to("room").emit("msg", 3)
        assert await messages(client, 3) == [1, 2, 3]
        assert seen == [False, True]
    finally:
        await io.close()


async def test_with_recovery_off_nothing_changes_on_the_wire(driver: NodeDriver) -> None:
    io = Server()
    await io.listen("127.0.0.1", 0)
    chat = Chat(io)
    try:
        client = NodeClient(driver, ["websocket"])
        await client.connect(url_of(io))
        await chat.connected()
        io.emit("msg", 0)
        assert await client.next_event("msg") == [0]
        assert io.sockets.sockets[str(client.sid)].pid is None
    finally:
        await io.close()


async def test_memory_stays_bounded_with_many_sessions_and_a_sustained_rate() -> None:
    cap = 500
    window = 8.0  # room for closing 1,000 connections on a busy machine before any expires
    io = await serve(window, adapter=functools.partial(MemoryAdapter, max_buffered_packets=cap))
    adapter = io.sockets.adapter
    assert isinstance(adapter, MemoryAdapter)
    io.on("connection", lambda socket: socket.join("room"))
    url = f"ws://127.0.0.1:{io.listener.port}/socket.io/?EIO=4&transport=websocket"

    async def one_session() -> Any:
        ws = await ws_connect(url)
        await asyncio.wait_for(ws.recv(), WAIT)  # Engine.IO open
        await ws.send("40")
        assert '"pid"' in str(await asyncio.wait_for(ws.recv(), WAIT))
        return ws

    try:
        sockets: list[Any] = []
        for _ in range(10):
            sockets += await asyncio.gather(*(one_session() for _ in range(100)))
        await until(lambda: len(io.sockets.sockets) == 1000)
        await asyncio.gather(*(ws.close() for ws in sockets))
        await until(lambda: len(adapter.recovery.sessions) == 1000)

        for burst in range(20):
            for i in range(cap // 2):
                io.to("room").emit("msg", burst, i, "x" * 100)
            assert len(adapter.recovery) <= cap
            await asyncio.sleep(0)  # let the loop run between bursts
        assert len(adapter.recovery) == cap

        await until(lambda: not adapter.recovery.sessions, timeout=window + WAIT)
        await until(lambda: len(adapter.recovery) == 0, timeout=window + WAIT)
    finally:
        await io.close()


async def test_a_client_back_before_the_server_saw_the_drop_is_recovered(
    driver: NodeDriver, transport: str
) -> None:
    """The network dies silently; the client notices first and comes back on a new connection
    while the server still holds the old one open: the old one is closed and the socket is
    recovered with what was sent into the dead connection (Node: a new socket)."""
    io = await serve()
    chat = Chat(io)
    proxy = Proxy(io.listener.port)
    port = await proxy.start()
    try:
        client = NodeClient(driver, TRANSPORTS[transport])
        await client.connect(f"http://127.0.0.1:{port}")
        await chat.connected()
        io.to("room").emit("msg", 0)
        assert await messages(client, 1) == [0]
        proxy.cut()
        for i in range(1, N + 1):
            io.to("room").emit("msg", i)  # into the dead connection
        await client.close_transport()  # the client gives up on it; the server hears nothing
        if transport == "polling":  # its close packet goes on a new request: let it die first
            await until(lambda: b"POST" in proxy.swallowed)
        assert chat.disconnects.empty()
        proxy.heal()
        again = await reconnected(driver, client)
        assert again["recovered"] is True and again["sid"] == client.sid
        assert await chat.disconnected() == (client.sid, "forced server close")
        assert await chat.connected() == (client.sid, True)
        io.to("room").emit("msg", "new")
        assert await messages(client, N + 1) == [*range(1, N + 1), "new"]

    finally:
        await proxy.close()
        # the old polling session can never flush its close packet (its client is gone): do
        # not wait for it the default 10 s
        await io.close(timeout=1.0)


async def test_one_session_restored_twice_at_once_gives_one_socket_back() -> None:
    """Two connections present the same pid while the first one's middleware runs: one gets
    the socket back, the other a new socket (never two sockets with one id)."""
    io = Server(connection_state_recovery=RecoveryOptions(skip_middlewares=False))
    await io.listen("127.0.0.1", 0)
    chat = Chat(io)
    release = asyncio.Event()
    waiting: list[Socket] = []

    async def middleware(socket: Socket) -> None:
        if socket.recovered:
            waiting.append(socket)
            await release.wait()

    io.use(middleware)
    url = f"ws://127.0.0.1:{io.listener.port}/socket.io/?EIO=4&transport=websocket"

    async def connect(payload: str = "") -> tuple[Any, dict[str, Any]]:
        ws = await ws_connect(url)
        await asyncio.wait_for(ws.recv(), WAIT)
        await ws.send("40" + payload)
        while True:
            frame = str(await asyncio.wait_for(ws.recv(), WAIT))
            if frame.startswith("40"):
                return ws, json.loads(frame[2:])

    try:
        first, session = await connect()
        await chat.connected()
        io.emit("msg", 1)
        offset = json.loads(str(await asyncio.wait_for(first.recv(), WAIT))[2:])[-1]
        await first.close()
        await chat.disconnected()
        payload = json.dumps({"pid": session["pid"], "offset": offset})
        recovering = asyncio.ensure_future(connect(payload))
        await until(lambda: len(waiting) == 1)
        second, other = await connect(payload)  # while the first is in its middleware
        release.set()
        third, again = await recovering
        assert again["sid"] == session["sid"] and other["sid"] != session["sid"]
        assert len(io.sockets.sockets) == 2
        for ws in (second, third):
            await ws.close()
    finally:
        await io.close()


async def test_a_ping_timeout_is_recoverable(driver: NodeDriver) -> None:
    """The network dies silently and the server notices first, at its ping timeout."""
    io = await serve(ping_interval=0.2, ping_timeout=0.2)
    chat = Chat(io)
    proxy = Proxy(io.listener.port)
    port = await proxy.start()
    try:
        client = NodeClient(driver, ["websocket"])
        await client.connect(f"http://127.0.0.1:{port}")
        await chat.connected()
        io.to("room").emit("msg", 0)
        assert await messages(client, 1) == [0]
        proxy.cut()
        assert await chat.disconnected() == (client.sid, "ping timeout")
        io.to("room").emit("msg", 1)
        await client.close_transport()
        proxy.heal()
        again = await reconnected(driver, client)
        assert again["recovered"] is True and again["sid"] == client.sid
        io.to("room").emit("msg", "new")
        assert await messages(client, 2) == [1, "new"]
    finally:
        await proxy.close()
        await io.close(timeout=1.0)


async def test_recovery_with_the_msgpack_parser(driver: NodeDriver, transport: str) -> None:
    io = await serve(parser="msgpack")
    chat = Chat(io)
    try:
        client = NodeClient(driver, TRANSPORTS[transport], parser="msgpack")
        await client.connect(url_of(io))
        assert await chat.connected() == (client.sid, False)
        io.to("room").emit("msg", 0)
        assert await messages(client, 1) == [0]
        await client.close_transport()
        assert await chat.disconnected() == (client.sid, "transport close")
        for i in range(1, 4):
            io.to("room").emit("msg", i)
        io.to("room").emit("msg", "binary", b"\x00\x01\xff")
        back = await reconnected(driver, client)
        assert back["sid"] == client.sid and back["recovered"] is True
        assert await messages(client, 3) == [1, 2, 3]
        binary = await client.next_event("msg")
        assert binary[:2] == ["binary", b"\x00\x01\xff"] and isinstance(binary[2], str)
    finally:
        await io.close()
