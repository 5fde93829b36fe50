"""The Server around the namespaces: serving, sharing a port, routes, CORS, encode-once fan-out."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from typing import Any

import engineio
import httpx
import pytest
import socketio

from roomcast.engine.engine import Engine
from roomcast.engine.http import Request, Response
from roomcast.engine.listener import Listener
from roomcast.engine.session import Session
from roomcast.errors import SocketDisconnected
from roomcast.protocol.errors import ReservedEventName
from roomcast.protocol.socketio import Packet
from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket
from tests.conftest import NODE_MODULES

from .conftest import WAIT, url_of


async def py_client(url: str, **kwargs: Any) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(url, transports=["websocket"], wait_timeout=WAIT, **kwargs)
    return client


async def test_broadcast_encodes_once_for_every_recipient(
    io: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Packet] = []
    real = io.sockets.adapter.encode  # type: ignore[attr-defined]

    def counting(packet: Packet) -> list[str | bytes]:
        calls.append(packet)
        return real(packet)

    monkeypatch.setattr(io.sockets.adapter, "encode", counting)
    got: asyncio.Queue[Any] = asyncio.Queue()
    conns = []
    for _ in range(30):
        client = socketio.AsyncClient(reconnection=False)
        client.on("news", got.put_nowait)
        conns.append(client)
    await asyncio.gather(
        *(c.connect(url_of(io), transports=["websocket"], wait_timeout=WAIT) for c in conns)
    )
    io.emit("news", {"blob": b"\x00" * 64})
    for _ in conns:
        assert await asyncio.wait_for(got.get(), WAIT) == {"blob": b"\x00" * 64}
    assert len(calls) == 1
    await asyncio.gather(*(c.disconnect() for c in conns))


async def test_attach_shares_a_port_with_a_raw_engine() -> None:
    listener = Listener()
    raw = Engine()

    @raw.on("message")
    def echo(session: Session, data: str | bytes) -> None:
        session.send(data)

    listener.mount(raw, "/raw/")
    io = Server().attach(listener)
    io.on("hi", lambda socket: "from socket.io")
    await listener.start("127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{listener.port}"
        sio = await py_client(url)
        assert await sio.call("hi", timeout=WAIT) == "from socket.io"
        eio = engineio.AsyncClient()
        got: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        eio.on("message", got.set_result)
        await eio.connect(url, engineio_path="raw", transports=["websocket"])
        await eio.send("plain engine.io")
        assert await asyncio.wait_for(got, WAIT) == "plain engine.io"
        await eio.disconnect()
        await sio.disconnect()
    finally:
        await io.close()
        await listener.close()


async def test_listener_routes_and_cors_origins() -> None:
    io = Server(cors_origins=["http://allowed.example"])
    io.listener.route(
        "GET", "/", lambda request: Response(200, [("Content-Type", "text/plain")], b"home")
    )
    async with io.serve("127.0.0.1", 0):
        base = url_of(io)
        async with httpx.AsyncClient(timeout=WAIT) as http:
            page = await http.get(base + "/")
            assert (page.status_code, page.text) == (200, "home")
            opened = await http.get(
                base + "/socket.io/?EIO=4&transport=polling",
                headers={"Origin": "http://allowed.example"},
            )
            assert opened.headers["access-control-allow-origin"] == "http://allowed.example"
            other = await http.get(
                base + "/socket.io/?EIO=4&transport=polling",
                headers={"Origin": "http://evil.example"},
            )
            assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize("path", ["/socket.io/", "/rt"])
async def test_a_custom_app_serves_the_official_client_like_node(path: str) -> None:
    client_js = (NODE_MODULES / "socket.io-client" / "dist" / "socket.io.js").read_bytes()
    served, hidden = Server(path=path), Server(path=path, serve_client=False)
    for io in (served, hidden):
        async with (
            io.serve("127.0.0.1", 0),
            httpx.AsyncClient(timeout=WAIT, base_url=url_of(io)) as http,
        ):
            script = await http.get(path.rstrip("/") + "/socket.io.js")
            min_map = await http.get(path.rstrip("/") + "/socket.io.min.js.map")
        if io is served:
            assert script.status_code == 200 and script.content == client_js
            assert script.headers["content-type"].startswith("application/javascript")
            assert min_map.status_code == 200
        else:
            assert script.status_code != 200 and min_map.status_code != 200


async def test_empty_cors_origins_allow_no_origin() -> None:
    io = Server(cors_origins=[])
    async with io.serve("127.0.0.1", 0), httpx.AsyncClient(timeout=WAIT) as http:
        opened = await http.get(
            url_of(io) + "/socket.io/?EIO=4&transport=polling",
            headers={"Origin": "http://evil.example"},
        )
        assert opened.status_code == 200
        assert "access-control-allow-origin" not in opened.headers


async def test_serve_closes_sockets_on_exit() -> None:
    io = Server()
    reasons: asyncio.Queue[str] = asyncio.Queue()
    io.on("disconnect", lambda socket, reason: reasons.put_nowait(reason))
    async with io.serve("127.0.0.1", 0):
        client = await py_client(url_of(io))
    assert await asyncio.wait_for(reasons.get(), WAIT) == "server shutting down"
    await client.disconnect()


async def test_reserved_event_names_are_refused(io: Server) -> None:
    sockets: asyncio.Future[Socket] = asyncio.get_running_loop().create_future()
    io.on("connection", sockets.set_result)
    client = await py_client(url_of(io))
    socket = await asyncio.wait_for(sockets, WAIT)
    for name in ("connect", "disconnect", "disconnecting", "connect_error"):
        with pytest.raises(ReservedEventName):
            socket.emit(name)
        with pytest.raises(ReservedEventName):
            io.emit(name)
    with pytest.raises(ReservedEventName):
        io.server_side_emit("connection")
    await client.disconnect()


async def test_pending_emit_with_ack_fails_on_disconnect(io: Server) -> None:
    sockets: asyncio.Future[Socket] = asyncio.get_running_loop().create_future()
    io.on("connection", sockets.set_result)
    client = socketio.AsyncClient(reconnection=False)
    never = asyncio.Event()
    asked = asyncio.Event()

    @client.on("question")
    async def question() -> None:
        asked.set()
        await never.wait()

    await client.connect(url_of(io), transports=["websocket"], wait_timeout=WAIT)
    socket = await asyncio.wait_for(sockets, WAIT)
    pending = asyncio.ensure_future(socket.emit_with_ack("question"))
    await asyncio.wait_for(asked.wait(), WAIT)
    socket.disconnect()
    with pytest.raises(SocketDisconnected):
        await asyncio.wait_for(pending, WAIT)
    with pytest.raises(SocketDisconnected):
        await socket.emit_with_ack("question")
    never.set()
    await client.disconnect()


async def test_empty_child_namespaces_can_be_cleaned_up() -> None:
    io = Server(cleanup_empty_child_namespaces=True)
    io.of(re.compile(r"^/room-\d+$"))
    gone: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    async with io.serve("127.0.0.1", 0):
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(
            url_of(io), namespaces=["/room-1"], transports=["websocket"], wait_timeout=WAIT
        )
        assert "/room-1" in io.namespaces
        io.namespaces["/room-1"].on("disconnect", lambda s, reason: gone.set_result(reason))
        await client.disconnect()
        await asyncio.wait_for(gone, WAIT)
        assert "/room-1" not in io.namespaces


def test_handler_registration_styles() -> None:
    io = Server()

    @io.on("a")
    def a(socket: Socket) -> None: ...

    def b(socket: Socket, *, ack: Any) -> None: ...

    io.on("b", b)
    assert io.sockets.handlers("a") == [(a, False)]
    assert io.sockets.handlers("b") == [(b, True)]
    io.sockets.off("a", a)
    assert io.sockets.handlers("a") == []


async def test_request_handler_type(io: Server) -> None:
    def handler(request: Request) -> Response:
        return Response(201, [], request.path.encode())

    io.listener.route("GET", "/x", handler)
    async with httpx.AsyncClient(timeout=WAIT) as http:
        answer = await http.get(url_of(io) + "/x")
    assert (answer.status_code, answer.text) == (201, "/x")


RUN_SCRIPT = """
import logging, sys
from roomcast.socketio.server import Server
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
io = Server()
io.on("disconnect", lambda socket, reason: print("disconnect:", reason, flush=True))
io.run("127.0.0.1", int(sys.argv[1]))
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_run_closes_gracefully_on_signals(port: int, sig: signal.Signals) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        RUN_SCRIPT,
        str(port),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        while b"serving on" not in (line := await asyncio.wait_for(proc.stderr.readline(), WAIT)):
            assert line, "the server exited before serving"
        client = await py_client(f"http://127.0.0.1:{port}")
        proc.send_signal(sig)
        assert (
            await asyncio.wait_for(proc.stdout.readline(), WAIT)
            == b"disconnect: server shutting down\n"
        )
        assert await asyncio.wait_for(proc.wait(), WAIT) == 0
        await client.disconnect()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_volatile_is_dropped_while_the_transport_cannot_take_it(io: Server) -> None:
    sockets: asyncio.Future[Socket] = asyncio.get_running_loop().create_future()
    io.on("connection", sockets.set_result)
    base = f"{url_of(io)}/socket.io/?EIO=4&transport=polling"
    async with httpx.AsyncClient(timeout=WAIT) as http:
        opened = await http.get(base)
        url = f"{base}&sid={json.loads(opened.text[1:])['sid']}"
        await http.post(url, content="40")
        assert (await http.get(url)).text.startswith('40{"sid":')
        socket = await asyncio.wait_for(sockets, WAIT)
        # no GET is pending: the polling transport cannot send now (Node: not writable)
        io.volatile.emit("dropped", 1)
        socket.volatile.emit("dropped", 2)
        io.to(socket.id).volatile.emit("dropped", 3)
        io.emit("kept", 4)
        assert (await http.get(url)).text == '42["kept",4]'
