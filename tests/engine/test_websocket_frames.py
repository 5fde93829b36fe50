"""Client frames over a real socket as the splitter sees them: coalesced, trickled, large,
with pings between them, then a close (roomcast.engine.client_frames)."""

from __future__ import annotations

import asyncio
import os
import struct

from websockets.frames import Frame, Opcode

from .conftest import TIMEOUT, EchoServer, open_data

REQUEST = (
    b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)


def client_frame(opcode: Opcode, data: bytes) -> bytes:
    return Frame(opcode, data).serialize(mask=True, extensions=[])


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One unmasked server frame: (opcode, payload)."""
    head = await asyncio.wait_for(reader.readexactly(2), TIMEOUT)
    length = head[1] & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
    return head[0] & 0x0F, await asyncio.wait_for(reader.readexactly(length), TIMEOUT)


async def upgrade(
    server: EchoServer, behind: bytes = b""
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str]:
    """A raw WebSocket connection (``behind``: frames in the request's write); its sid."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(REQUEST + behind)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    assert head.startswith(b"HTTP/1.1 101 ")
    opcode, payload = await read_frame(reader)
    assert opcode == Opcode.TEXT
    return reader, writer, str(open_data(payload.decode())["sid"])


async def test_many_small_frames_in_one_write(server: EchoServer) -> None:
    reader, writer, _ = await upgrade(server)
    texts = [f"4m{i}-é" for i in range(300)]
    writer.write(b"".join(client_frame(Opcode.TEXT, t.encode()) for t in texts))
    for text in texts:
        assert await read_frame(reader) == (Opcode.TEXT, text.encode())
    writer.close()


async def test_frames_behind_the_request(server: EchoServer) -> None:
    frames = [client_frame(Opcode.TEXT, b"4first"), client_frame(Opcode.PING, b"hi")]
    second = client_frame(Opcode.TEXT, b"4second")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(REQUEST + b"".join(frames) + second[:5])  # the rest of "4second" comes later
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    assert head.startswith(b"HTTP/1.1 101 ")
    # websockets answers the ping as it parses it, before the session (and its open packet).
    assert await read_frame(reader) == (Opcode.PONG, b"hi")
    opcode, payload = await read_frame(reader)
    assert (opcode, payload[:1]) == (Opcode.TEXT, b"0")
    assert await read_frame(reader) == (Opcode.TEXT, b"4first")
    writer.write(second[5:])
    assert await read_frame(reader) == (Opcode.TEXT, b"4second")
    writer.close()


async def test_frames_trickled_byte_by_byte(server: EchoServer) -> None:
    reader, writer, _ = await upgrade(server)
    data = b"".join(
        [
            client_frame(Opcode.TEXT, ("4" + "ü" * 100).encode()),  # 16-bit length
            client_frame(Opcode.PING, b"between"),
            client_frame(Opcode.BINARY, bytes(range(7))),
        ]
    )
    for i in range(len(data)):
        writer.write(data[i : i + 1])
        await writer.drain()
    assert await read_frame(reader) == (Opcode.TEXT, ("4" + "ü" * 100).encode())
    assert await read_frame(reader) == (Opcode.PONG, b"between")
    assert await read_frame(reader) == (Opcode.BINARY, bytes(range(7)))
    writer.close()


async def test_large_binary_then_ping_then_close(server: EchoServer) -> None:
    reader, writer, sid = await upgrade(server)
    big = os.urandom(900_000)  # under Node's default maxHttpBufferSize (1e6): a 64-bit length
    data = client_frame(Opcode.BINARY, big) + client_frame(Opcode.PING, b"p")
    data += client_frame(Opcode.TEXT, b"4after")
    for i in range(0, len(data), 65_000):  # in writes that cut frames anywhere
        writer.write(data[i : i + 65_000])
    assert await read_frame(reader) == (Opcode.BINARY, big)
    assert await read_frame(reader) == (Opcode.PONG, b"p")
    assert await read_frame(reader) == (Opcode.TEXT, b"4after")
    writer.write(client_frame(Opcode.CLOSE, struct.pack("!H", 1000)))
    assert await read_frame(reader) == (Opcode.CLOSE, struct.pack("!H", 1000))
    assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""  # the server closes TCP
    assert await server.close_reason(sid) == "transport close"
    writer.close()


async def test_messages_then_bad_frame_in_one_write(server: EchoServer) -> None:
    # The simple frames before an unmasked one are delivered, then websockets fails it (1002).
    reader, writer, sid = await upgrade(server)
    writer.write(
        client_frame(Opcode.TEXT, b"4one") + client_frame(Opcode.TEXT, b"4two") + b"\x81\x02hi"
    )
    assert await read_frame(reader) == (Opcode.TEXT, b"4one")
    assert await read_frame(reader) == (Opcode.TEXT, b"4two")
    assert await read_frame(reader) == (Opcode.CLOSE, struct.pack("!H", 1002))
    assert await server.close_reason(sid) == "transport error"
    writer.close()


async def test_nothing_answered_after_invalid_utf8(server: EchoServer) -> None:
    # The connection is failed at the invalid message (1007): the ping after it in the same
    # write is not answered (websockets alone had answered it first, having parsed the read).
    reader, writer, sid = await upgrade(server)
    writer.write(client_frame(Opcode.TEXT, b"4\xff") + client_frame(Opcode.PING, b"p"))
    assert await read_frame(reader) == (Opcode.CLOSE, struct.pack("!H", 1007))
    assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
    assert await server.close_reason(sid) == "transport error"
    writer.close()
