"""``compress(False)``: an uncompressed frame (RSV1 clear) where permessage-deflate is on.

A raw websockets Sans-I/O client offers permessage-deflate; the test reads the server's frame
headers off the TCP stream itself (RSV1 is gone once websockets decodes a frame) and feeds the
same bytes to the client protocol, which decodes (and decompresses) the messages.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket

from .conftest import WAIT, ClientFactory, url_of

TEXT = "compressible " * 40
BLOB = b"\x00\x01" * 100


class RawClient:
    """One WebSocket to the server: every server frame as (RSV1, decoded message)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.protocol = ClientProtocol(
            parse_uri("ws://127.0.0.1/socket.io/?EIO=4&transport=websocket"),
            extensions=[ClientPerMessageDeflateFactory()],
        )
        self.raw = b""
        self.handshaken = False
        self.frames: asyncio.Queue[tuple[bool, Opcode, bytes]] = asyncio.Queue()
        self.rsv1: list[bool] = []

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        client.protocol.send_request(client.protocol.connect())
        client._write()
        return client

    def _write(self) -> None:
        for data in self.protocol.data_to_send():
            self.writer.write(data)

    def send(self, text: str) -> None:
        self.protocol.send_text(text.encode())
        self._write()

    def _headers(self) -> None:
        """Record RSV1 of every complete frame header in ``self.raw`` (server frames: unmasked)."""
        raw = self.raw
        while len(raw) >= 2:
            length, start = raw[1] & 0x7F, 2
            if length == 126:
                if len(raw) < 4:
                    break
                length, start = int.from_bytes(raw[2:4], "big"), 4
            elif length == 127:
                if len(raw) < 10:
                    break
                length, start = int.from_bytes(raw[2:10], "big"), 10
            if len(raw) < start + length:
                break
            self.rsv1.append(bool(raw[0] & 0x40))
            raw = raw[start + length :]
        self.raw = raw

    async def next_message(self) -> tuple[bool, Opcode, bytes]:
        """(RSV1 on the wire, opcode, decoded payload) of the next data frame."""
        while self.frames.empty():
            data = await asyncio.wait_for(self.reader.read(65536), WAIT)
            assert data, "the server closed the connection"
            self.protocol.receive_data(data)
            self.raw += data
            if not self.handshaken:
                # the protocol parses the HTTP response: only what follows it is frames
                end = self.raw.find(b"\r\n\r\n")
                if end < 0:
                    continue
                self.raw = self.raw[end + 4 :]
                self.handshaken = True
            self._headers()
            for event in self.protocol.events_received():
                if isinstance(event, Response):
                    continue
                assert isinstance(event, Frame)
                if event.opcode in (Opcode.TEXT, Opcode.BINARY):
                    self.frames.put_nowait((self.rsv1.pop(0), event.opcode, bytes(event.data)))
                else:
                    self.rsv1.pop(0)
        return self.frames.get_nowait()

    def close(self) -> None:
        self.writer.close()


async def server_with(compression: bool) -> Server:
    server = Server(websocket_compression=compression)
    await server.listen("127.0.0.1", 0)
    return server


async def emits(server: Server) -> dict[str, tuple[bool, Any]]:
    """Each test emit's name -> (RSV1, decoded arguments), as a raw client sees them."""
    ready: asyncio.Future[Socket] = asyncio.get_running_loop().create_future()
    server.on("connection", ready.set_result)
    client = await RawClient.connect(server.listener.port)
    try:
        rsv1, _, data = await client.next_message()
        assert data.startswith(b"0{")
        client.send("40")
        socket = await asyncio.wait_for(ready, WAIT)
        socket.emit("single", TEXT)
        socket.compress(False).emit("single-plain", TEXT)
        socket.compress(False).emit("binary-plain", BLOB)
        server.emit("broadcast", TEXT)
        server.compress(False).emit("broadcast-plain", TEXT)
        server.compress(True).emit("broadcast-on", TEXT)
        seen: dict[str, tuple[bool, Any]] = {}
        while len(seen) < 6:
            rsv1, opcode, data = await client.next_message()
            if opcode is Opcode.TEXT and data.startswith(b"42"):
                name, *args = json.loads(data[2:])
                seen[name] = (rsv1, args)
            elif opcode is Opcode.TEXT and data.startswith(b"451-"):
                name, _ = json.loads(data[4:])
                rsv1_binary, opcode, blob = await client.next_message()
                assert opcode is Opcode.BINARY
                seen[name] = (rsv1 or rsv1_binary, [blob])
        return seen
    finally:
        client.close()
        await server.close()


async def test_compress_false_sends_uncompressed_frames_with_deflate_on() -> None:
    server = await server_with(compression=True)
    seen = await emits(server)
    assert seen == {
        "single": (True, [TEXT]),
        "single-plain": (False, [TEXT]),
        "binary-plain": (False, [BLOB]),
        "broadcast": (True, [TEXT]),
        "broadcast-plain": (False, [TEXT]),
        "broadcast-on": (True, [TEXT]),
    }


async def test_without_deflate_every_frame_is_uncompressed() -> None:
    server = await server_with(compression=False)
    seen = await emits(server)
    assert {name: rsv1 for name, (rsv1, _) in seen.items()} == dict.fromkeys(seen, False)
    assert seen["single"][1] == seen["broadcast"][1] == [TEXT]
    assert seen["binary-plain"][1] == [BLOB]


@pytest.mark.parametrize("kind", ["node-websocket"])
async def test_clients_read_compressed_and_plain_messages(clients: ClientFactory) -> None:
    """Node's socket.io-client over ws (which offers permessage-deflate) reads both kinds."""
    server = await server_with(compression=True)
    try:
        ready: asyncio.Future[Socket] = asyncio.get_running_loop().create_future()
        server.on("connection", ready.set_result)
        client = clients()
        await client.connect(url_of(server))
        socket = await asyncio.wait_for(ready, WAIT)
        # the client offered permessage-deflate and the server took it
        assert socket.client.session.transport.protocol.extensions
        socket.compress(False).emit("one", TEXT, BLOB)
        socket.emit("two", TEXT)
        server.compress(False).emit("three", TEXT)
        server.emit("four", TEXT, BLOB)
        assert await client.next_event("one") == [TEXT, BLOB]
        assert await client.next_event("two") == [TEXT]
        assert await client.next_event("three") == [TEXT]
        assert await client.next_event("four") == [TEXT, BLOB]
    finally:
        await server.close()
