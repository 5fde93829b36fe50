"""The Listener: several engines and plain routes on one port; PreparedMessage fan-out; options."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.frames import Frame, Opcode

from roomcast.engine.engine import Engine
from roomcast.engine.http import Request, Response
from roomcast.engine.listener import Listener
from roomcast.engine.prepared import PreparedMessage
from roomcast.engine.session import Session

from .conftest import (
    TIMEOUT,
    EchoServer,
    MakeServer,
    handshake,
    open_data,
    polling,
    recv,
    ws_connect,
)


async def test_engines_on_several_paths_and_routes(port: int) -> None:
    first = Engine(path="/socket.io/")
    second = Engine(path="/engine.io")
    first.on("connection", lambda session: session.send("first"))
    second.on("connection", lambda session: session.send("second"))

    async def page(request: Request) -> Response:
        await asyncio.sleep(0)
        return Response(200, [("Content-Type", "text/html")], b"<h1>hi</h1>")

    async with Listener() as listener:
        listener.mount(first)
        listener.mount(second)
        listener.route("GET", "/", page)
        listener.route("POST", "/echo", lambda request: Response(200, [], request.body))
        listener.route("GET", "/socket.io/client.js", lambda request: Response(200, [], b"js"))
        await listener.start("127.0.0.1", port)
        assert listener.port == port
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            for path, name in (("/socket.io/", "first"), ("/engine.io/", "second")):
                sid = await handshake(http, base + path)
                assert (await http.get(base + path, params=polling(sid))).text == "4" + name
                await http.post(base + path, params=polling(sid), content="1")
                ws = await ws_connect(base + path)
                open_data(str(await recv(ws)))
                assert await recv(ws) == "4" + name
                await ws.close()
            assert (await http.get(base + "/")).text == "<h1>hi</h1>"
            # A route inside an engine's path wins over the engine (Node serves its client so).
            assert (await http.get(base + "/socket.io/client.js")).text == "js"
            head = await http.head(base + "/")
            assert (head.status_code, head.content) == (200, b"")
            assert (await http.post(base + "/echo", content=b"abc")).content == b"abc"
            assert (await http.get(base + "/echo")).status_code == 405
            missing = await http.get(base + "/missing")
            assert (missing.status_code, missing.text) == (404, "Not Found")
        with pytest.raises(ValueError):
            listener.mount(Engine(), "/socket.io")


async def test_prepared_message_frames_match_websockets() -> None:
    message = PreparedMessage(["héllo", b"\x00\x01", "x" * 70000])
    expected = b"".join(
        [
            Frame(Opcode.TEXT, "4héllo".encode()).serialize(mask=False),
            Frame(Opcode.BINARY, b"\x00\x01").serialize(mask=False),
            Frame(Opcode.TEXT, b"4" + b"x" * 70000).serialize(mask=False),
        ]
    )
    assert message.websocket_frames() == expected
    assert message.websocket_frames() is message.websocket_frames()
    assert message.polling_packets()[:2] == ("4héllo", "bAAE=")


async def test_send_prepared_to_every_transport(make_server: MakeServer) -> None:
    plain: EchoServer = await make_server()
    deflate: EchoServer = await make_server(websocket_compression=True)
    message = PreparedMessage(["broadcast", b"\x07"])
    sessions: list[Session] = []
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        sid = await handshake(http, plain.url)
        sessions.append(plain.sessions[sid])
        ws = await ws_connect(plain.url)
        open_data(str(await recv(ws)))
        url = deflate.url.replace("http://", "ws://") + "?EIO=4&transport=websocket"
        compressed = await connect(url, ping_interval=None)  # negotiates permessage-deflate
        assert compressed.protocol.extensions
        open_data(str(await recv(compressed)))
        sessions += [plain.sessions[s] for s in plain.sessions if s != sid]
        sessions += list(deflate.sessions.values())
        assert all(session.send_prepared(message) for session in sessions)
        assert (await http.get(plain.url, params=polling(sid))).text == "4broadcast\x1ebBw=="
        for client in (ws, compressed):
            assert await recv(client) == "4broadcast"
            assert await recv(client) == b"\x07"
            await client.send("4and back")
            assert await recv(client) == "4and back"
            await client.close()


async def test_raw_engine_api_with_async_handlers(port: int) -> None:
    engine = Engine(path="/engine.io/")
    closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    @engine.on("message")
    async def on_message(session: Session, data: str | bytes) -> None:
        await asyncio.sleep(0)
        session.send(data if isinstance(data, bytes) else data.upper())

    @engine.on("disconnect")  # an alias of "close"
    def on_close(session: Session, reason: str, description: str | None) -> None:
        closed.set_result(reason)

    with pytest.raises(ValueError):
        engine.on("nope", on_close)
    async with Listener() as listener:
        listener.mount(engine)
        await listener.start("127.0.0.1", port)
        ws = await ws_connect(f"http://127.0.0.1:{port}/engine.io/")
        open_data(str(await recv(ws)))
        await ws.send("4shout")
        assert await recv(ws) == "4SHOUT"
        await ws.close()
        assert await asyncio.wait_for(closed, TIMEOUT) == "transport close"


async def test_polling_answers_hold_at_most_16_packets(
    server: EchoServer, http: httpx.AsyncClient
) -> None:
    sid = await handshake(http, server.url)
    for i in range(40):
        server.sessions[sid].send(str(i))
    got: list[str] = []
    while len(got) < 40:
        packets = (await http.get(server.url, params=polling(sid))).text.split("\x1e")
        assert len(packets) <= 16
        got += packets
    assert got == [f"4{i}" for i in range(40)]


async def test_route_body_limit(port: int) -> None:
    async with Listener() as listener:
        listener.route("POST", "/echo", lambda request: Response(200, [], request.body))
        await listener.start("127.0.0.1", port)
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            url = f"http://127.0.0.1:{port}/echo"
            assert (await http.post(url, content=b"a" * (1 << 20))).status_code == 200
            assert (await http.post(url, content=b"a" * ((1 << 20) + 1))).status_code == 413


async def test_start_on_a_given_socket_and_a_unix_socket(port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    directory = tempfile.mkdtemp(prefix="rc")  # short: unix socket paths are limited
    path = os.path.join(directory, "listener.sock")
    listener = Listener()
    listener.route("GET", "/", lambda request: Response(200, [], b"here"))
    try:
        await listener.start(sock=sock)
        await listener.start_unix(path)
        assert listener.port == port
        assert [s.family for s in listener.sockets] == [socket.AF_INET, socket.AF_UNIX]
        with pytest.raises(RuntimeError):
            await listener.start("127.0.0.1", 0)
        # the socket was bound with SO_REUSEPORT: another listener may share the port
        async with Listener() as other:
            await other.start("127.0.0.1", port, reuse_port=True)
            assert other.port == port
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            assert (await http.get(f"http://127.0.0.1:{port}/")).text == "here"
        unix = httpx.AsyncHTTPTransport(uds=path)
        async with httpx.AsyncClient(transport=unix, timeout=TIMEOUT) as http:
            assert (await http.get("http://worker/")).text == "here"
    finally:
        await listener.close()
        shutil.rmtree(directory)
    assert listener.sockets == ()
    with pytest.raises(RuntimeError):
        _ = listener.port
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


@pytest.mark.parametrize(
    ("allow", "forwarded_for", "address"),
    [
        (None, "203.0.113.7", "127.0.0.1"),  # no proxy trusted: the header is ignored
        ("10.0.0.1", "203.0.113.7", "127.0.0.1"),  # the peer is not a trusted proxy
        ("*", "203.0.113.7, 10.0.0.1", "203.0.113.7"),  # any peer: the left-most entry
        ("127.0.0.0/8, 10.0.0.0/8", "198.51.100.1, 203.0.113.7, 10.0.0.1", "203.0.113.7"),
        ("127.0.0.1", "", "127.0.0.1"),  # a trusted proxy that names no client
    ],
)
async def test_forwarded_for_from_trusted_proxies(
    port: int, allow: str | None, forwarded_for: str, address: str
) -> None:
    seen: list[tuple[str, int] | None] = []

    def allow_request(request: Request) -> bool:
        seen.append(request.remote_address)
        return True

    listener = Listener(forwarded_allow_ips=allow)
    listener.mount(Engine(path="/engine.io/", allow_request=allow_request))
    await listener.start("127.0.0.1", port)
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            url = f"http://127.0.0.1:{port}/engine.io/"
            await handshake(http, url)  # no header at all
            response = await http.get(
                url,
                params={"EIO": "4", "transport": "polling"},
                headers={"x-forwarded-for": forwarded_for},
            )
            assert response.status_code == 200
        assert seen[0] is not None and seen[0][0] == "127.0.0.1"
        assert seen[1] is not None and seen[1][0] == address
    finally:
        await listener.close(timeout=0.2)
