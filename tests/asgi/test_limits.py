"""Limits in ASGI mode: a WebSocket client that stops reading is cut off at
``max_write_buffer`` (under uvicorn: memory does not grow without bound), and a message past
``max_payload`` closes the connection with 1009 (uvicorn and hypercorn), as in the standalone
mode."""

from __future__ import annotations

import asyncio
import base64
import os
import socket

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

from .conftest import WAIT, AsgiServer


def text_frame(text: str) -> bytes:
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=True, extensions=())


def read_until(sock: socket.socket, marker: bytes) -> None:
    received = b""
    while marker not in received:
        chunk = sock.recv(4096)
        assert chunk, received
        received += chunk


def open_never_reading(port: int, path: str) -> socket.socket:
    """A raw WebSocket client that sends the handshake and never reads a byte (a tiny receive
    buffer: what the server sends piles up on its side)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path}?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    read_until(sock, b"0{")  # the 101 and the open packet
    sock.sendall(text_frame("40"))  # Socket.IO CONNECT; its answer is the last thing read
    read_until(sock, b"40{")
    sock.sendall(text_frame('42["flood",1024,65536]'))  # 1024 messages of 64 KiB: 64 MiB
    return sock


async def test_a_websocket_that_stops_reading_is_cut_off() -> None:
    asgi = await asyncio.to_thread(
        AsgiServer, "uvicorn", "mount", env={"MAX_WRITE_BUFFER": str(1 << 20)}
    )
    sock = None
    try:
        sock = open_never_reading(asgi.port, "/ws/socket.io/")
        line = await asyncio.to_thread(asgi.wait_for, "^disconnect ", WAIT * 3)
        assert line == "disconnect transport error"
    finally:
        if sock is not None:
            sock.close()
        asgi.stop()


async def test_a_websocket_message_past_max_payload_closes_with_1009(asgi: AsgiServer) -> None:
    path = asgi.path or "/socket.io/"
    url = f"ws://127.0.0.1:{asgi.port}{path}?EIO=4&transport=websocket"
    async with connect(url, max_size=None) as ws:
        assert str(await ws.recv()).startswith("0{")
        await ws.send("4" + "x" * 1_000_001)  # max_payload is 1,000,000 bytes
        try:
            while True:
                await asyncio.wait_for(ws.recv(), WAIT)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1009
