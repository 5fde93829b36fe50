"""The broadcast fast path (a socket's ``sink``) keeps every rule of the session's path: volatile
drops, the slow-consumer limit, nothing on a closing WebSocket, order around an upgrade."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket
from tests.engine.conftest import handshake, polling, probe, recv
from tests.waiting import until

from .conftest import WAIT
from .test_write_batch import UPGRADE, client_frame

CLOSE_FRAME = bytes((0x88, 0x82, 0, 0, 0, 0)) + (1000).to_bytes(2, "big")  # masked, code 1000


class Raw:
    """A raw WebSocket client reading the server's text frames (up to 64 KiB each)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def texts(self, count: int) -> list[str]:
        texts = []
        for _ in range(count):
            head = await asyncio.wait_for(self.reader.readexactly(2), WAIT)
            assert head[0] == 0x81, head
            size = head[1]
            if size == 126:
                size = int.from_bytes(await self.reader.readexactly(2), "big")
            data = await asyncio.wait_for(self.reader.readexactly(size), WAIT)
            texts.append(data.decode())
        return texts


async def connected(io: Server) -> Raw:
    """A raw WebSocket client connected to ``/``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", io.listener.port)
    raw = Raw(reader, writer)
    writer.write(UPGRADE.encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    assert head.startswith(b"HTTP/1.1 101")
    assert (await raw.texts(1))[0].startswith("0{")  # Engine.IO open
    writer.write(client_frame("40"))
    assert (await raw.texts(1))[0].startswith("40{")  # Socket.IO connect
    return raw


def socket_of(io: Server, raw: Raw) -> Socket:
    """The server's socket of the client ``raw``."""
    port = raw.writer.get_extra_info("sockname")[1]
    for socket in io.of("/").sockets.values():
        if socket.conn.request.remote_address[1] == port:
            return socket
    raise LookupError(port)


async def test_a_volatile_broadcast_is_dropped_past_the_high_water_mark() -> None:
    io = Server(write_buffer_high_water=1024, max_write_buffer=1 << 20)
    await io.listen("127.0.0.1", 0)
    try:
        client = await connected(io)
        socket = socket_of(io, client)
        session = socket.conn
        assert socket.sink is not None  # the fast path is the one under test
        big = "x" * 4000
        # One loop iteration: the second frame at least waits for the batch's flush.
        io.emit("big", big)
        io.emit("big", big)
        assert session.write_buffer_size > 1024
        io.volatile.emit("volatile", 1)
        assert session.dropped == 1
        await asyncio.sleep(0)  # the flush
        io.emit("after", 2)
        texts = await client.texts(3)
        assert [t[: t.index(",")] for t in texts] == ['42["big"', '42["big"', '42["after"']
        client.writer.close()
    finally:
        await io.close()


async def test_a_broadcast_past_the_write_buffer_limit_cuts_the_slow_consumer_off() -> None:
    io = Server(write_buffer_high_water=1024, max_write_buffer=16384)
    await io.listen("127.0.0.1", 0)
    try:
        client = await connected(io)
        socket = socket_of(io, client)
        session = socket.conn
        assert socket.sink is not None
        reasons: asyncio.Queue[str] = asyncio.Queue()
        io.on("disconnect", lambda s, reason: reasons.put_nowait(reason))
        for _ in range(8):  # one loop iteration: 32 KB waiting for the flush
            io.emit("big", "x" * 4000)
        assert session.overflowed == 1
        assert session.closed
        assert await asyncio.wait_for(reasons.get(), WAIT) == "transport error"
        client.writer.close()
    finally:
        await io.close()


async def test_no_broadcast_goes_out_after_the_clients_close_frame(io: Server) -> None:
    """The client's last event and its close frame come in one read. As with Node's ``ws``,
    frames are handled in order: a broadcast the event's handler makes at once still reaches
    the client, before the answer to its close; one made once the close frame has been read
    reaches every socket but that one."""
    other = await connected(io)
    loop = asyncio.get_running_loop()

    def go(socket: object, *args: object) -> None:
        io.emit("news", 1)
        loop.call_soon(io.emit, "news", 2)  # runs after the rest of the read: the close frame

    io.on("go", go)
    client = await connected(io)
    assert socket_of(io, client).sink is not None
    client.writer.write(client_frame('42["go"]') + CLOSE_FRAME)
    assert await other.texts(2) == ['42["news",1]', '42["news",2]']
    received = b""
    while chunk := await asyncio.wait_for(client.reader.read(65536), WAIT):
        received += chunk
    first = b'42["news",1]'
    close_answer = bytes((0x88, 0x02)) + (1000).to_bytes(2, "big")
    assert received == bytes((0x81, len(first))) + first + close_answer
    client.writer.close()
    other.writer.close()


async def test_broadcasts_during_an_upgrade_keep_their_order(io: Server) -> None:
    url = f"http://127.0.0.1:{io.listener.port}/socket.io/"
    async with httpx.AsyncClient() as http:
        sid = await handshake(http, url)
        await http.post(url, params=polling(sid), content="40")
        assert (await http.get(url, params=polling(sid))).text.startswith("40{")
        socket: Socket = next(iter(io.of("/").sockets.values()))
        ws: Any = await probe(url, sid)
        session = io.engine.sessions[sid]
        assert session.upgrading
        # The client paused polling: everything waits for the upgrade, in order.
        socket.emit("n", 1)
        io.emit("n", 2)
        socket.emit("n", 3)
        await ws.send("5")
        await until(lambda: session.transport_name == "websocket")
        assert socket.sink is not None  # the upgraded session takes the fast path
        io.emit("n", 4)
        socket.emit("n", 5)
        io.emit("n", 6)
        assert [await recv(ws) for _ in range(6)] == [f'42["n",{n}]' for n in range(1, 7)]
        await ws.close()


async def test_an_outgoing_listener_sees_broadcasts_and_its_removal_restores_the_fast_path(
    io: Server,
) -> None:
    client = await connected(io)
    socket = socket_of(io, client)
    fast = socket.sink
    assert fast is not None
    seen: list[tuple[Any, ...]] = []

    def listener(*args: Any) -> None:
        seen.append(args)

    socket.on_any_outgoing(listener)
    assert socket.sink is None
    io.emit("n", 1)
    socket.off_any_outgoing(listener)
    assert socket.sink is not None
    io.emit("n", 2)
    assert await client.texts(2) == ['42["n",1]', '42["n",2]']
    assert seen == [("n", 1)]
    client.writer.close()
