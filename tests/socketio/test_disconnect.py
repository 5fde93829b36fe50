"""Disconnect reasons, as the server and the client each see them, for every cause."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect as ws_connect

from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket

from .conftest import WAIT, ClientFactory, SioClient, url_of

# (cause, server reason, node client reason, python client reason)
CAUSES: list[tuple[str, str, str, str]] = [
    (
        "socket.disconnect()",
        "server namespace disconnect",
        "io server disconnect",
        "server disconnect",
    ),
    (
        "client disconnect",
        "client namespace disconnect",
        "io client disconnect",
        "client disconnect",
    ),
    ("client closes transport", "transport close", "forced close", "client disconnect"),
    # as in Node: each socket of the connection gets a DISCONNECT first, then the connection closes
    (
        "socket.disconnect(True)",
        "server namespace disconnect",
        "io server disconnect",
        "server disconnect",
    ),
    # python-engineio calls a WebSocket closed without a close packet a transport error
    ("socket.conn.close()", "forced close", "transport close", "transport error"),
    ("io.close()", "server shutting down", "transport close", "transport error"),
]


class Watch:
    """The server side: the connected socket, and its ``disconnecting``/``disconnect`` reasons."""

    def __init__(self, io: Server) -> None:
        loop = asyncio.get_running_loop()
        self.socket: asyncio.Future[Socket] = loop.create_future()
        self.disconnecting: asyncio.Future[tuple[str, set[str]]] = loop.create_future()
        self.reason: asyncio.Future[str] = loop.create_future()
        io.on("connection", self.on_connection)
        io.on("disconnecting", lambda s, reason: self.disconnecting.set_result((reason, s.rooms)))
        io.on("disconnect", lambda s, reason: self.reason.set_result(reason))

    def on_connection(self, socket: Socket) -> None:
        socket.join("room")
        self.socket.set_result(socket)

    async def connected(self) -> Socket:
        return await asyncio.wait_for(self.socket, WAIT)

    async def reasons(self) -> tuple[str, str, set[str]]:
        disconnecting, rooms = await asyncio.wait_for(self.disconnecting, WAIT)
        return disconnecting, await asyncio.wait_for(self.reason, WAIT), rooms


async def cause(name: str, io: Server, socket: Socket, client: SioClient) -> None:
    if name == "socket.disconnect()":
        socket.disconnect()
    elif name == "client disconnect":
        await client.disconnect()
    elif name == "client closes transport":
        await client.close_transport()
    elif name == "socket.disconnect(True)":
        socket.disconnect(True)
    elif name == "socket.conn.close()":
        socket.conn.close()
    elif name == "io.close()":
        await io.close()


@pytest.mark.parametrize(("name", "server_reason", "node_reason", "python_reason"), CAUSES)
async def test_disconnect_reasons(
    io: Server,
    clients: ClientFactory,
    name: str,
    server_reason: str,
    node_reason: str,
    python_reason: str,
) -> None:
    watch = Watch(io)
    client = clients()
    await client.connect(url_of(io))
    socket = await watch.connected()
    await cause(name, io, socket, client)
    disconnecting, reason, rooms = await watch.reasons()
    if client.library == "python" and name == "client disconnect" and reason == "transport close":
        # python-socketio closes the WebSocket without waiting for its queued DISCONNECT packet
        server_reason = "transport close"
    assert (disconnecting, reason) == (server_reason, server_reason)
    assert rooms == {socket.id, "room"}, "disconnecting handlers see the rooms"
    assert not socket.connected and io.sockets.adapter.rooms == {}
    if client.library == "python" and name == "client disconnect":
        return  # python-socketio reports its own disconnection before it happens
    expected = node_reason if client.library == "node" else python_reason
    assert await client.reason() == expected


@pytest.fixture
async def fast_io() -> AsyncIterator[Server]:
    """A server with a quick heartbeat, for ping timeouts."""
    server = Server(ping_interval=0.1, ping_timeout=0.2)
    await server.listen("127.0.0.1", 0)
    try:
        yield server
    finally:
        await server.close()


async def raw_socket(io: Server) -> tuple[Watch, object]:
    watch = Watch(io)
    ws = await ws_connect(f"ws://127.0.0.1:{io.listener.port}/socket.io/?EIO=4&transport=websocket")
    opening = await asyncio.wait_for(ws.recv(), WAIT)
    assert isinstance(opening, str) and opening.startswith("0{")
    await ws.send("40")
    assert str(await asyncio.wait_for(ws.recv(), WAIT)).startswith('40{"sid":')
    await watch.connected()
    return watch, ws


@pytest.mark.parametrize(
    ("send", "server_reason"),
    [
        ("x", "parse error"),
        ("4abc", "forced close"),
        ("42{}", "forced close"),
        ('42["x"', "forced close"),
    ],
)
async def test_bad_packets_close_the_connection(io: Server, send: str, server_reason: str) -> None:
    watch, ws = await raw_socket(io)
    await ws.send(send)  # type: ignore[attr-defined]
    _, reason, _ = await watch.reasons()
    assert reason == server_reason
    await asyncio.wait_for(ws.wait_closed(), WAIT)  # type: ignore[attr-defined]


async def test_ping_timeout(fast_io: Server) -> None:
    watch, ws = await raw_socket(fast_io)
    _, reason, _ = await watch.reasons()  # the raw client never answers the pings
    assert reason == "ping timeout"
    await ws.close()  # type: ignore[attr-defined]


async def test_connect_timeout_closes_a_session_without_namespace() -> None:
    io = Server(connect_timeout=0.2)
    await io.listen("127.0.0.1", 0)
    try:
        ws = await ws_connect(
            f"ws://127.0.0.1:{io.listener.port}/socket.io/?EIO=4&transport=websocket"
        )
        assert str(await asyncio.wait_for(ws.recv(), WAIT)).startswith("0{")
        await asyncio.wait_for(ws.wait_closed(), WAIT)  # no "40" sent: the server hangs up
        assert io.engine.sessions == {}
    finally:
        await io.close()


async def test_multiplexed_namespaces_on_one_connection(io: Server, node: str) -> None:
    from .conftest import NodeClient, NodeDriver

    driver = await NodeDriver.start(node)
    try:
        sockets: dict[str, Socket] = {}
        gone: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        for nsp in ("/", "/chat"):
            io.of(nsp).on("connection", lambda s: sockets.__setitem__(s.nsp.name, s))
            io.of(nsp).on("disconnect", lambda s, reason: gone.put_nowait((s.nsp.name, reason)))
            io.of(nsp).on("where", lambda s: s.nsp.name)
        main, chat = NodeClient(driver, ["websocket"], "m"), NodeClient(driver, ["websocket"], "m")
        await main.connect(url_of(io), "/")
        await chat.connect(url_of(io), "/chat")
        assert sockets["/"].conn is sockets["/chat"].conn
        assert sockets["/"].id != sockets["/chat"].id
        assert len(io.engine.sessions) == 1
        await chat.disconnect()
        assert await asyncio.wait_for(gone.get(), WAIT) == ("/chat", "client namespace disconnect")
        assert await main.call("where") == ["/"]
        session = sockets["/"].conn
        assert not session.closed
        session_closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        on_close = session.on_close
        assert on_close is not None

        def observe(reason: str, description: str | None) -> None:
            on_close(reason, description)
            session_closed.set_result(reason)

        session.on_close = observe
        sockets["/"].disconnect()  # the last namespace: the client closes the connection
        assert await asyncio.wait_for(gone.get(), WAIT) == ("/", "server namespace disconnect")
        assert await main.reason() == "io server disconnect"
        assert await asyncio.wait_for(session_closed, WAIT) == "transport close"
        assert io.engine.sessions == {}
    finally:
        await driver.close()


CLOSE_FRAME = bytes((0x88, 0x82, 0, 0, 0, 0)) + (1000).to_bytes(2, "big")
"""A masked client close frame, code 1000 (zero mask)."""


@pytest.mark.parametrize(
    ("frames", "events", "server_reason"),
    [
        (['42["ev","last words"]'], ["last words"], "transport close"),
        (['42["ev","one"]', '42["ev","two"]', "41"], ["one", "two"], "client namespace disconnect"),
        (["41"], [], "client namespace disconnect"),
    ],
)
async def test_frames_in_the_same_read_as_the_close_frame_are_handled_first(
    io: Server, frames: list[str], events: list[str], server_reason: str
) -> None:
    """Like Node: every data frame before the close frame is delivered, in order, then the close."""
    from .test_write_batch import UPGRADE, client_frame, read_frames

    watch = Watch(io)
    seen: list[str] = []
    io.on("ev", lambda socket, text: seen.append(text))
    reader, writer = await asyncio.open_connection("127.0.0.1", io.listener.port)
    try:
        writer.write(UPGRADE.encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
        assert head.startswith(b"HTTP/1.1 101")
        assert (await read_frames(reader, 1))[0].startswith("0{")
        writer.write(client_frame("40"))
        assert (await read_frames(reader, 1))[0].startswith('40{"sid":')
        await watch.connected()
        writer.write(b"".join(client_frame(text) for text in frames) + CLOSE_FRAME)  # one write
        _, reason, _ = await watch.reasons()
        assert (seen, reason) == (events, server_reason)
    finally:
        writer.close()
