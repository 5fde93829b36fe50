"""Write coalescing: under load, one turn of the event loop leaves in one write per connection."""

from __future__ import annotations

import asyncio
from typing import Any

from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket

from .conftest import WAIT

UPGRADE = (
    "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n"
)


def client_frame(text: str) -> bytes:
    """A masked client text frame (zero mask: the payload goes as is)."""
    data = text.encode()
    assert len(data) < 126
    return bytes((0x81, 0x80 | len(data), 0, 0, 0, 0)) + data


def server_frames(data: bytes) -> list[str]:
    """The text frames in ``data`` (unmasked, short), which must hold whole frames only."""
    texts, pos = [], 0
    while pos < len(data):
        assert data[pos] == 0x81 and data[pos + 1] < 126, data[pos:]
        end = pos + 2 + data[pos + 1]
        assert end <= len(data), "a frame split across reads"
        texts.append(data[pos + 2 : end].decode())
        pos = end
    return texts


class CountingWrites:
    """The real asyncio transport, with its ``write`` calls counted."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


async def read_frames(reader: asyncio.StreamReader, count: int) -> list[str]:
    texts: list[str] = []
    buffer = b""
    while len(texts) < count:
        buffer += await asyncio.wait_for(reader.read(65536), WAIT)
        while len(buffer) >= 2 and len(buffer) >= 2 + buffer[1]:
            texts += server_frames(buffer[: 2 + buffer[1]])
            buffer = buffer[2 + buffer[1] :]
    return texts


async def connected(io: Server) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Any]:
    """A raw WebSocket client connected to ``/``, and its server side's counted transport."""
    reader, writer = await asyncio.open_connection("127.0.0.1", io.listener.port)
    writer.write(UPGRADE.encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    assert head.startswith(b"HTTP/1.1 101")
    assert (await read_frames(reader, 1))[0].startswith("0{")  # Engine.IO open
    writer.write(client_frame("40"))
    assert (await read_frames(reader, 1))[0].startswith("40{")  # Socket.IO connect
    (session,) = io.engine.sessions.values()
    ws: Any = session.transport
    counting = ws.transport = CountingWrites(ws.transport)
    return reader, writer, counting


async def test_a_burst_after_a_quiet_spell_sends_its_first_frame_at_once(io: Server) -> None:
    loop = asyncio.get_running_loop()
    seen: list[int] = []
    done = loop.create_future()

    @io.on("burst")
    def burst(socket: Socket) -> str:
        socket.emit("one", 1)  # nothing was coalesced before: written now
        seen.append(counting.writes)
        io.emit("two", 2)  # a broadcast: the shared pre-built frame
        socket.join("room")
        io.to("room").emit("three", 3)
        socket.emit("four", 4)
        seen.append(counting.writes)  # these wait for the end of the iteration
        loop.call_soon(again, socket)  # the next iteration, right after this one's flush
        return "done"  # the ack, written last

    def again(socket: Socket) -> None:
        # The last iteration coalesced several frames: a burst is going on, so everything
        # of this one waits for its flush, and leaves in one write.
        seen.append(counting.writes)
        socket.emit("five", 5)
        socket.emit("six", 6)
        seen.append(counting.writes)
        loop.call_soon(done.set_result, None)

    reader, writer, counting = await connected(io)
    writer.write(client_frame('427["burst"]'))
    frames = await read_frames(reader, 7)
    assert frames == [
        '42["one",1]',
        '42["two",2]',
        '42["three",3]',
        '42["four",4]',
        '437["done"]',
        '42["five",5]',
        '42["six",6]',
    ]
    await asyncio.wait_for(done, WAIT)
    assert seen == [1, 1, 2, 2]
    assert counting.writes == 3
    writer.close()


async def test_a_lone_message_is_not_held_for_the_end_of_the_iteration(io: Server) -> None:
    seen: list[int] = []

    @io.on("ping")
    def ping(socket: Socket, n: int) -> None:
        before = counting.writes
        socket.emit("pong", n)
        seen.append(counting.writes - before)

    reader, writer, counting = await connected(io)
    for n in range(3):  # one at a time: each answer is written as it is emitted
        writer.write(client_frame(f'42["ping",{n}]'))
        assert await read_frames(reader, 1) == [f'42["pong",{n}]']
    assert seen == [1, 1, 1]
    assert counting.writes == 3
    writer.close()
