"""Hypothesis throws bytes at the listening socket (HTTP front, then WebSocket frames after a
valid handshake): the server logs no error, and a client connected all along still works."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import socketio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket
from tests.conftest import free_port

WAIT = 10.0
FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Errors(logging.Handler):
    """Keeps every record at ERROR or above, from any logger and any thread."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Target:
    """A Socket.IO server in a thread of its own, with a python-socketio client connected."""

    def __init__(self) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.io: Server = self.run(self._start())
        self.bystander: socketio.AsyncClient = self.run(self._bystander())

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(WAIT)

    async def _start(self) -> Server:
        io = Server(max_payload=10_000, connect_timeout=2)

        @io.on("echo")
        def echo(socket: Socket, *args: Any) -> Any:
            return list(args)

        await io.listen("127.0.0.1", self.port)
        return io

    async def _bystander(self) -> socketio.AsyncClient:
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(f"http://127.0.0.1:{self.port}", transports=["websocket"])
        return client

    async def _still_works(self) -> Any:
        return await self.bystander.call("echo", {"ok": True}, timeout=WAIT)

    def still_works(self) -> bool:
        return bool(self.run(self._still_works()) == [{"ok": True}])

    def close(self) -> None:
        self.run(self.bystander.disconnect())
        self.run(self.io.close(timeout=1))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT)


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    errors = Errors()
    logging.getLogger().addHandler(errors)
    target = Target()
    try:
        yield target
        assert target.still_works()
        target.close()
        assert not errors.records, [r.getMessage() for r in errors.records]
    finally:
        logging.getLogger().removeHandler(errors)


def exchange(port: int, data: bytes, *, websocket: bool = False) -> bytes:
    """Send ``data`` (after a WebSocket handshake and CONNECT if asked), half-close, read all."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        received = b""
        if websocket:
            sock.sendall(
                b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
                b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            while b"\r\n\r\n" not in received:
                chunk = sock.recv(4096)
                assert chunk, received
                received += chunk
            assert received.startswith(b"HTTP/1.1 101"), received
            sock.sendall(frame(1, b"40"))
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        while chunk := sock.recv(65536):
            received += chunk
        return received


def frame(
    opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, mask: bool = True
) -> bytes:
    """One WebSocket frame as a client sends it, valid or not."""
    head = bytes([(0x80 if fin else 0) | (rsv & 7) << 4 | (opcode & 15)])
    size = len(payload)
    bit = 0x80 if mask else 0
    if size < 126:
        head += bytes([bit | size])
    elif size < 1 << 16:
        head += bytes([bit | 126]) + struct.pack("!H", size)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", size)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


REQUEST_LINES = st.sampled_from(
    [
        b"",
        b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n",
        b"POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\n",
        b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nUpgrade: websocket\r\n",
        b"OPTIONS /socket.io/ HTTP/1.1\r\n",
        b"GET / HTTP/1.0\r\n",
    ]
)
HEADER_LINES = st.lists(
    st.tuples(
        st.sampled_from(
            [b"Host", b"Content-Length", b"Transfer-Encoding", b"Connection", b"Origin", b"X"]
        ),
        st.binary(max_size=40),
    ),
    max_size=5,
).map(lambda pairs: b"".join(name + b": " + value + b"\r\n" for name, value in pairs))


@FUZZ
@given(
    line=REQUEST_LINES,
    headers=HEADER_LINES,
    tail=st.binary(max_size=300),
    end=st.sampled_from([b"", b"\r\n", b"\r\n\r\n"]),
)
def test_http_front(target: Target, line: bytes, headers: bytes, tail: bytes, end: bytes) -> None:
    exchange(target.port, line + headers + end + tail)


SIO_TEXT = st.builds(
    lambda prefix, body: prefix + body,
    st.sampled_from(["", "0", "1", "2", "3", "4", "40", "41", "42", "43", "44", "451-", "46", "5"]),
    st.one_of(
        st.text(max_size=60),
        st.sampled_from(['["e"]', '1["e",1]', '/x,["e"]', '{"a":1}', "[]", '["echo"]', "9999[1]"]),
    ),
).map(str.encode)
FRAMES = st.one_of(
    st.builds(
        frame,
        opcode=st.sampled_from([0, 1, 2, 8, 9, 10, 3, 11]),
        payload=st.one_of(SIO_TEXT, st.binary(max_size=200)),
        fin=st.booleans(),
        rsv=st.sampled_from([0, 0, 0, 1, 4]),
        mask=st.sampled_from([True, True, True, False]),
    ),
    st.binary(min_size=1, max_size=30),
)


@FUZZ
@given(frames=st.lists(FRAMES, min_size=1, max_size=6))
def test_websocket_frames(target: Target, frames: list[bytes]) -> None:
    exchange(target.port, b"".join(frames), websocket=True)
