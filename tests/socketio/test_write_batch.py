"""Write coalescing: what one turn of the event loop sends a connection leaves in one write."""

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


async def test_a_burst_of_sends_arrives_in_order_and_in_one_write(io: Server) -> None:
    @io.on("burst")
    def burst(socket: Socket) -> str:
        socket.emit("one", 1)  # to this socket
        io.emit("two", 2)  # a broadcast: the shared pre-built frame
        socket.join("room")
        io.to("room").emit("three", 3)
        socket.emit("four", 4)
        return "done"  # the ack, written last

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
    writer.write(client_frame('427["burst"]'))
    # Everything the handler sent is one write: the first read holds all five frames.
    data = await asyncio.wait_for(reader.read(65536), WAIT)
    assert server_frames(data) == [
        '42["one",1]',
        '42["two",2]',
        '42["three",3]',
        '42["four",4]',
        '437["done"]',
    ]
    assert counting.writes == 1
    writer.close()
