"""WebSocket transport, raw: handshake, messages, bad frames, heartbeat, closing."""

from __future__ import annotations

import asyncio
import logging
import socket

import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode

from roomcast.engine.prepared import PreparedMessage

from .conftest import (
    TIMEOUT,
    EchoServer,
    MakeServer,
    handshake,
    open_data,
    poll_pending,
    recv,
    until,
    ws_connect,
)


async def ws_open(server: EchoServer) -> tuple[ClientConnection, str]:
    ws = await ws_connect(server.url)
    opened = await recv(ws)
    assert isinstance(opened, str)
    data = open_data(opened)
    assert data["upgrades"] == []
    return ws, str(data["sid"])


async def test_handshake_and_echo(server: EchoServer) -> None:
    ws, sid = await ws_open(server)
    assert server.engine.sessions[sid].transport_name == "websocket"
    await ws.send("4héllo")
    assert await recv(ws) == "4héllo"
    await ws.send(b"\x00\x01\x02")
    assert await recv(ws) == b"\x00\x01\x02"
    await ws.send("4")
    assert await recv(ws) == "4"
    await ws.close()
    assert await server.close_reason(sid) == "transport close"


async def test_fragmented_message_reassembled(server: EchoServer) -> None:
    ws, _ = await ws_open(server)
    await ws.send(["4part", "-one", "-two"])
    assert await recv(ws) == "4part-one-two"
    await ws.close()


async def test_server_close_sends_close_frame(server: EchoServer) -> None:
    ws, sid = await ws_open(server)
    await ws.send("4close")
    with pytest.raises(ConnectionClosed):
        await recv(ws)
    assert ws.close_code == 1005
    assert await server.close_reason(sid) == "forced close"


async def test_refusals_before_websocket_handshake(server: EchoServer) -> None:
    for params, message in (
        ({"sid": "nope"}, "Session ID unknown"),
        ({"transport": "x"}, "Transport unknown"),
        ({"EIO": "3"}, "Unsupported protocol version"),
    ):
        with pytest.raises(InvalidStatus) as info:
            await ws_connect(server.url, **params)
        assert info.value.response.status_code == 400
        assert info.value.response.body == message.encode()


async def test_unmounted_path_is_404(server: EchoServer) -> None:
    with pytest.raises(InvalidStatus) as info:
        await ws_connect(server.url.replace("/engine.io/", "/elsewhere/"))
    assert info.value.response.status_code == 404


async def test_garbage_frames_close_session_others_unaffected(server: EchoServer) -> None:
    other, _ = await ws_open(server)
    ws, sid = await ws_open(server)
    # An unmasked frame with a reserved opcode: a protocol error for websockets.
    ws.transport.write(b"\x83\x02hi")
    assert await server.close_reason(sid) == "transport error"
    with pytest.raises(ConnectionClosed):
        await recv(ws)
    await other.send("4still here")
    assert await recv(other) == "4still here"
    await other.close()


async def test_invalid_utf8_text_frame(server: EchoServer) -> None:
    ws, sid = await ws_open(server)
    ws.transport.write(Frame(Opcode.TEXT, b"4\xff").serialize(mask=True))
    assert await server.close_reason(sid) == "transport error"


async def test_bad_packet_is_parse_error(server: EchoServer) -> None:
    ws, sid = await ws_open(server)
    await ws.send("x")
    assert await server.close_reason(sid) == "parse error"


async def test_oversized_message(make_server: MakeServer) -> None:
    server = await make_server(max_payload=100)
    ws, sid = await ws_open(server)
    await ws.send("4" + "x" * 200)
    with pytest.raises(ConnectionClosed):
        await recv(ws)
    assert ws.close_code == 1009
    assert ws.close_reason == ""  # like Node: the server's limit is not told
    assert await server.close_reason(sid) == "transport error"


async def test_heartbeat_ping_and_timeout(make_server: MakeServer) -> None:
    server = await make_server(ping_interval=0.2, ping_timeout=0.2)
    ws, sid = await ws_open(server)
    for _ in range(3):  # answered pings keep the session alive
        assert await recv(ws) == "2"
        await ws.send("3")
    assert await recv(ws) == "2"  # not answered this time
    assert await server.close_reason(sid) == "ping timeout"
    with pytest.raises(ConnectionClosed):
        await recv(ws)


async def test_polling_heartbeat_timeout(make_server: MakeServer) -> None:
    server = await make_server(ping_interval=0.2, ping_timeout=0.2)
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        sid = await handshake(http, server.url)
        params = {"EIO": "4", "transport": "polling", "sid": sid}
        assert (await http.get(server.url, params=params)).text == "2"
        await http.post(server.url, params=params, content="3")
        poll = asyncio.ensure_future(http.get(server.url, params=params))
        assert (await asyncio.wait_for(poll, TIMEOUT)).text == "2"
        # No pong: the server closes the session and the next poll sees the close packet.
        assert await server.close_reason(sid) == "ping timeout"
        again = await http.get(server.url, params=params)
        assert again.json() == {"code": 1, "message": "Session ID unknown"}


async def test_sessions_on_websocket_refuse_second_websocket(server: EchoServer) -> None:
    ws, sid = await ws_open(server)
    second = await ws_connect(server.url, sid=sid)
    with pytest.raises(ConnectionClosed):
        await recv(second)
    await ws.send("4alive")
    assert await recv(ws) == "4alive"
    await ws.close()


async def test_post_on_websocket_session(server: EchoServer) -> None:
    ws, sid = await ws_open(server)
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        response = await http.post(
            server.url, params={"EIO": "4", "transport": "polling", "sid": sid}, content="4x"
        )
    assert response.status_code == 400
    assert response.json() == {"code": 3, "message": "Bad request"}
    await ws.send("4alive")
    assert await recv(ws) == "4alive"
    await ws.close()


async def test_volatile_and_write_buffer(server: EchoServer) -> None:
    ws, sid = await ws_open(server)
    session = server.engine.sessions[sid]
    assert session.write_buffer_size == 0
    assert session.send("v", volatile=True)
    assert await recv(ws) == "4v"
    await ws.close()
    await server.close_reason(sid)
    assert not session.send("gone")


async def test_graceful_shutdown(make_server: MakeServer) -> None:
    server = await make_server()
    port = server.port
    ws, ws_sid = await ws_open(server)
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        sid = await handshake(http, server.url)
        params = {"EIO": "4", "transport": "polling", "sid": sid}
        poll = asyncio.ensure_future(http.get(server.url, params=params))
        await until(poll_pending(server, sid))
        server.engine.sessions[ws_sid].send("bye")
        await server.listener.close(timeout=TIMEOUT)
        assert (await asyncio.wait_for(poll, TIMEOUT)).text == "1"
    assert await recv(ws) == "4bye"
    with pytest.raises(ConnectionClosed):
        await recv(ws)
    assert await server.close_reason(sid) == "server shutting down"
    assert await server.close_reason(ws_sid) == "server shutting down"
    assert not server.engine.sessions
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


UPGRADE = (
    b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)


async def stalled_reader(port: int) -> socket.socket:
    """A WebSocket client that opens a session and then never reads (a small receive buffer:
    its kernel takes little of what the server sends)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, UPGRADE)
    return sock


async def test_stalled_readers_held_within_the_server_budget(
    make_server: MakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="roomcast.engine")
    budget = 4 << 20
    server = await make_server(max_write_buffer=64 << 20, max_write_buffer_total=budget)
    readers = [await stalled_reader(server.port) for _ in range(200)]
    await until(lambda: len(server.engine.sessions) == 200)
    sessions = list(server.engine.sessions.values())
    for ws in server.engine._websockets:
        # Linux grows a loopback socket's send buffer to 4 MB, all of it out of the server's
        # sight: keep what the kernel takes small, so the burst piles up in the server.
        ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
    message = PreparedMessage(["x" * 2000])
    held_most = 0
    for _ in range(50):  # a burst of 500 messages of 2 KB to each: 200 MB owed in all
        for _ in range(10):
            for session in sessions:
                session.send_prepared(message)
        await asyncio.sleep(0)  # the write batch goes out
        held = sum(ws.write_buffer_size for ws in server.engine._websockets)
        held_most = max(held_most, held)
    assert held_most <= budget
    cut = [session for session in sessions if session.closed]
    assert cut  # the budget, not the per-connection limit, cut them off
    for session in cut:
        assert (await asyncio.wait_for(server.closed[session.sid], TIMEOUT)) == (
            "transport error",
            "write buffer full",
        )
    logged = [r for r in caplog.records if "write buffer full" in r.getMessage()]
    assert len(logged) == len(cut)  # once each
    for sock in readers:
        sock.close()


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One unmasked server frame with a short payload: (opcode, payload)."""
    head = await asyncio.wait_for(reader.readexactly(2), TIMEOUT)
    length = head[1] & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    return head[0] & 0x0F, await reader.readexactly(length)


async def test_websocket_ping_frames_when_asked(make_server: MakeServer) -> None:
    server = await make_server(websocket_ping_interval=0.05)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    assert head.startswith(b"HTTP/1.1 101 ")
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
    opcode, payload = await read_frame(reader)
    assert (opcode, payload[:1]) == (Opcode.TEXT, b"0")
    assert (await read_frame(reader))[0] == Opcode.PING
    writer.close()


async def test_slow_consumer_dropped_then_closed(make_server: MakeServer) -> None:
    server = await make_server(write_buffer_high_water=1 << 16, max_write_buffer=1 << 20)
    ws, sid = await ws_open(server)
    session = server.engine.sessions[sid]
    ws.transport.pause_reading()  # a client that stops reading
    big = "x" * (1 << 16)
    dropped = sent = 0
    while not session.closed:
        if session.send(big, volatile=True):
            sent += 1
        else:
            dropped += 1
            session.send(big)  # not volatile: buffered until the hard limit
        await asyncio.sleep(0)  # let the socket drain what the kernel takes
    assert dropped > 0
    assert await server.close_reason(sid) == "transport error"
    assert server.closed[sid].result()[1] == "write buffer full"


async def test_messages_before_a_close_frame_in_one_read_are_delivered(
    server: EchoServer,
) -> None:
    # A client that sends its last messages and its close frame at once (a socket.io client
    # finishing an upgrade then disconnecting: "5", "41", close) must have them all handled.
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    assert head.startswith(b"HTTP/1.1 101 ")
    _, payload = await read_frame(reader)
    sid = str(open_data(payload.decode())["sid"])
    got: list[str | bytes] = []
    server.engine.sessions[sid].on_message = got.append
    frames = [Frame(Opcode.TEXT, b"4hello"), Frame(Opcode.TEXT, b"4world")]
    frames.append(Frame(Opcode.CLOSE, (1000).to_bytes(2, "big")))
    writer.write(b"".join(f.serialize(mask=True, extensions=[]) for f in frames))
    assert await server.close_reason(sid) == "transport close"
    assert got == ["hello", "world"]
    writer.close()
