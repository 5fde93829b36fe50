"""Bad input gets the protocol's answer while another client, connected all along, keeps working."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

from roomcast.engine.engine import Engine
from roomcast.engine.http import HttpProtocol, Request
from roomcast.engine.listener import Listener

from .conftest import (
    TIMEOUT,
    EchoServer,
    MakeServer,
    handshake,
    open_data,
    polling,
    recv,
    until,
    ws_connect,
)


@pytest.fixture
async def bystander(server: EchoServer) -> AsyncIterator[ClientConnection]:
    """A WebSocket client connected before the bad input, checked after it."""
    ws = await ws_connect(server.url)
    open_data(str(await recv(ws)))
    yield ws
    await ws.close()


async def still_works(ws: ClientConnection, server: EchoServer, n: int = 3) -> None:
    for i in range(n):
        await ws.send(f"4alive {i}")
        assert await recv(ws) == f"4alive {i}"
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        sid = await handshake(http, server.url)
        await http.post(server.url, params=polling(sid), content="4fresh")
        assert (await http.get(server.url, params=polling(sid))).text == "4fresh"


async def raw_exchange(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    answer = await asyncio.wait_for(reader.read(), TIMEOUT)
    writer.close()
    return answer


async def test_malformed_polling_packets(server: EchoServer, bystander: ClientConnection) -> None:
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        for payload in ("", "9", "4a\x1e\x1e4b", "bnot base64!"):
            sid = await handshake(http, server.url)
            response = await http.post(server.url, params=polling(sid), content=payload)
            assert response.text == "ok"
            assert await server.close_reason(sid) == "parse error", payload
    await still_works(bystander, server)


async def test_unknown_sid(server: EchoServer, bystander: ClientConnection) -> None:
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        response = await http.post(server.url, params=polling("x" * 20), content="4x")
    assert response.json() == {"code": 1, "message": "Session ID unknown"}
    await still_works(bystander, server)


async def test_oversized_post(server: EchoServer, bystander: ClientConnection) -> None:
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        sid = await handshake(http, server.url)
        response = await http.post(server.url, params=polling(sid), content="4" * 1_000_001)
    assert response.status_code == 413
    assert await server.close_reason(sid) == "transport error"
    await still_works(bystander, server)


async def test_post_on_websocket_session(server: EchoServer, bystander: ClientConnection) -> None:
    sid = next(iter(server.sessions))
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        response = await http.post(server.url, params=polling(sid), content="4x")
    assert response.json() == {"code": 3, "message": "Bad request"}
    await still_works(bystander, server)


async def test_garbage_websocket_bytes(server: EchoServer, bystander: ClientConnection) -> None:
    ws = await ws_connect(server.url)
    sid = open_data(str(await recv(ws)))["sid"]
    ws.transport.write(b"\xff" * 64)
    with pytest.raises(ConnectionClosed):
        await recv(ws)
    assert ws.close_code == 1002
    assert await server.close_reason(sid) == "transport error"
    await still_works(bystander, server)


async def test_garbage_http(server: EchoServer, bystander: ClientConnection) -> None:
    answer = await raw_exchange(server.port, b"\x16\x03\x01 not http at all\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    await still_works(bystander, server)


async def test_header_too_large(server: EchoServer, bystander: ClientConnection) -> None:
    request = b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nX-Big: " + b"a" * 20000
    answer = await raw_exchange(server.port, request + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431 ")
    await still_works(bystander, server)


async def test_half_sent_request_blocks_nobody(
    server: EchoServer, bystander: ClientConnection
) -> None:
    _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"POST /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nContent-Length: 100\r\n")
    await writer.drain()
    await still_works(bystander, server)
    writer.write(b"\r\n" + b"x" * 50)  # still half a body
    await writer.drain()
    await still_works(bystander, server)
    writer.close()


async def test_half_sent_request_times_out(port: int) -> None:
    listener = Listener(request_timeout=0.2)
    listener.mount(Engine(path="/engine.io/"))
    await listener.start("127.0.0.1", port)
    try:
        answer = await raw_exchange(port, b"GET /engine.io/?EIO=4 HTTP/1.1\r\nHost: x\r\n")
        assert answer.startswith(b"HTTP/1.1 408 ")
    finally:
        await listener.close(timeout=0.2)


async def test_pipelined_requests_answered_in_order(
    server: EchoServer, bystander: ClientConnection
) -> None:
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        sid = await handshake(http, server.url)
    path = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
    body = b"4one\x1e4two"
    request = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
        + f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        + b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    answer = await raw_exchange(server.port, request)
    statuses = re.findall(rb"HTTP/1\.1 (\d{3})", answer)
    assert statuses == [b"200", b"200", b"404"]
    assert answer.index(b"\r\n\r\nok") < answer.index(b"4one\x1e4two") < answer.index(b"Not Found")
    await still_works(bystander, server)


async def unread_connection(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A client socket with a small receive buffer: its kernel takes little of what it is sent."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return await asyncio.open_connection(sock=sock)


def only_connection(listener: Listener) -> HttpProtocol:
    (connection,) = listener._connections
    return connection


async def test_pipelined_requests_from_a_client_that_does_not_read(
    server: EchoServer, bystander: ClientConnection
) -> None:
    count = 60_000  # 1 MiB of requests, ~10 MB of answers: more than the kernel buffers hold
    reader, writer = await unread_connection(server.port)
    writer.write(b"GET / HTTP/1.1\r\n\r\n" * count)
    await until(lambda: len(server.listener._connections) == 1)
    connection = only_connection(server.listener)
    transport = connection.transport
    assert transport is not None
    # The server stops reading requests once the answers pile up unread.
    await until(lambda: transport.get_write_buffer_size() > 2 << 20 or not transport.is_reading())
    assert transport.get_write_buffer_size() < 1 << 20
    await still_works(bystander, server)
    # Every request is answered, in order, once the client reads.
    data = bytearray(await asyncio.wait_for(reader.readuntil(b"\r\n\r\nNot Found"), TIMEOUT))
    size = len(data)
    while len(data) < size * count:
        data += await asyncio.wait_for(reader.read(1 << 20), TIMEOUT)
    assert len(data) == size * count
    assert data.count(b"HTTP/1.1 404 Not Found\r\n") == count
    writer.close()


async def test_bytes_after_an_upgrade_request_are_bounded(
    make_server: MakeServer, bystander: ClientConnection
) -> None:
    decided = asyncio.Event()

    async def allow(request: Request) -> bool:
        if "ok" in request.query:
            await decided.wait()
        return request.query.get("ok") != "0"

    server = await make_server(allow_request=allow)
    upgrade = (
        "GET /engine.io/?EIO=4&transport=websocket&ok={} HTTP/1.1\r\nHost: x\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    # Refused: 4 MiB sent while allow_request runs are not all held by the server.
    reader, writer = await unread_connection(server.port)
    writer.write(upgrade.format(0).encode() + b"x" * (4 << 20))
    await until(lambda: len(server.listener._connections) == 1)
    connection = only_connection(server.listener)
    assert connection.transport is not None
    transport = connection.transport
    await until(lambda: len(connection._tail) > 1 << 20 or not transport.is_reading())
    assert len(connection._tail) < 512 << 10
    decided.set()
    await until(lambda: not server.listener._connections)
    writer.close()
    # Accepted: a message that came while reading was paused reaches the session.
    decided.clear()
    reader, writer = await unread_connection(server.port)
    message = "4" + "y" * 200_000
    frame = Frame(Opcode.TEXT, message.encode()).serialize(mask=True)
    writer.write(upgrade.format(1).encode() + frame)
    await until(lambda: len(server.listener._connections) == 1)
    connection = only_connection(server.listener)
    assert connection.transport is not None
    transport = connection.transport
    await until(lambda: not transport.is_reading())
    decided.set()
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    await asyncio.wait_for(server.connected.get(), TIMEOUT)
    echo = b"\x81\x7f" + len(message).to_bytes(8, "big") + message.encode()
    data = b""
    while not data.endswith(echo):
        chunk = await asyncio.wait_for(reader.read(1 << 20), TIMEOUT)
        assert chunk
        data += chunk
    writer.close()
    await still_works(bystander, server)


async def test_failing_handler_does_not_break_session(
    server: EchoServer, bystander: ClientConnection
) -> None:
    ws = await ws_connect(server.url)
    sid = open_data(str(await recv(ws)))["sid"]
    session = server.sessions[sid]

    def handler(data: str | bytes) -> None:
        if data == "x":
            raise RuntimeError("handler bug")
        session.send(data)

    session.on_message = handler
    await ws.send("4x")
    await ws.send("4y")
    assert await recv(ws) == "4y"
    await ws.close()
    await still_works(bystander, server)


async def test_expect_100_continue(server: EchoServer) -> None:
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        sid = await handshake(http, server.url)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    path = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
    headers = "Host: x\r\nContent-Length: 4\r\nExpect: 100-continue"
    writer.write(f"POST {path} HTTP/1.1\r\n{headers}\r\n\r\n".encode())
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"4abc")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert await asyncio.wait_for(reader.readexactly(2), TIMEOUT) == b"ok"
    writer.close()
