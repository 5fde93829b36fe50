"""Each limit has a safe default and a clear refusal, seen by a real client."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import socketio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from roomcast.engine.http import Request
from roomcast.errors import AckTimeoutError, SocketDisconnected
from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket

from .conftest import WAIT, no_leftovers, until

EIO = {"EIO": "4", "transport": "polling"}


@pytest.fixture
async def serve(port: int) -> AsyncIterator[Any]:
    """``await serve(**options)``: a started Server on ``port``, closed after the test."""
    servers: list[Server] = []

    async def start(**options: Any) -> Server:
        io = Server(**options)
        await io.listen("127.0.0.1", port)
        servers.append(io)
        return io

    yield start
    for io in servers:
        await io.close(timeout=1)


def url(io: Server) -> str:
    return f"http://127.0.0.1:{io.listener.port}/socket.io/"


async def ws_open(io: Server, **query: str) -> ClientConnection:
    """A raw WebSocket with its Engine.IO open packet read."""
    params = "&".join(
        f"{k}={v}" for k, v in {"EIO": "4", "transport": "websocket", **query}.items()
    )
    ws = await connect(url(io).replace("http", "ws") + "?" + params)
    if "sid" not in query:
        assert str(await recv(ws)).startswith("0{")
    return ws


async def recv(ws: ClientConnection) -> str | bytes:
    return await asyncio.wait_for(ws.recv(), WAIT)


async def test_max_connections_refuses_handshakes_until_one_leaves(serve: Any) -> None:
    io = await serve(max_connections=2)
    async with httpx.AsyncClient(timeout=WAIT) as http:
        first = await http.get(url(io), params=EIO)
        second = await ws_open(io)
        refused = await http.get(url(io), params=EIO)
        assert refused.status_code == 503
        assert refused.json() == {"code": 6, "message": "Too many connections"}
        with pytest.raises(InvalidStatus) as caught:
            await ws_open(io)
        assert caught.value.response.status_code == 503
        assert caught.value.response.body == b"Too many connections"
        # a python-socketio client sees a connection error it can retry
        client = socketio.AsyncClient(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(url(io)[: -len("/socket.io/")], wait_timeout=WAIT)
        await second.close()
        await until(lambda: len(io.engine.sessions) == 1)
        assert (await http.get(url(io), params=EIO)).status_code == 200
    assert first.status_code == 200


async def test_namespaces_per_connection(serve: Any) -> None:
    io = await serve(max_namespaces=2)
    for name in ("/a", "/b"):
        io.of(name)
    ws = await ws_open(io)
    await ws.send("40")
    assert str(await recv(ws)).startswith("40{")
    await ws.send("40/a,")
    assert str(await recv(ws)).startswith("40/a,{")
    await ws.send("40/b,")
    assert json.loads(str(await recv(ws))[len("44/b,") :]) == {"message": "Too many namespaces"}
    await ws.send('42["still here?"]')  # the connection and its namespaces carry on
    await ws.send("41/a,")
    await ws.send("40/b,")
    assert str(await recv(ws)).startswith("40/b,{")
    await ws.close()
    await no_leftovers(io)


async def test_pending_acks_per_socket(serve: Any) -> None:
    io = await serve(max_pending_acks=3)
    connected: asyncio.Future[Socket] = asyncio.get_running_loop().create_future()
    io.on("connection", connected.set_result)
    client = socketio.AsyncClient(reconnection=False)
    asked = asyncio.Queue[int]()

    @client.on("ask")
    async def never_answer(n: int) -> None:
        asked.put_nowait(n)
        await asyncio.Event().wait()

    await client.connect(url(io)[: -len("/socket.io/")], transports=["websocket"])
    socket = await asyncio.wait_for(connected, WAIT)
    waits = [asyncio.ensure_future(socket.emit_with_ack("ask", n)) for n in range(4)]
    for _ in range(4):
        await asyncio.wait_for(asked.get(), WAIT)
    with pytest.raises(AckTimeoutError, match="too many pending acks"):
        await asyncio.wait_for(waits[0], WAIT)
    assert socket._acks is not None and len(socket._acks) == 3
    await client.disconnect()
    for wait in waits[1:]:
        with pytest.raises(SocketDisconnected):
            await asyncio.wait_for(wait, WAIT)
    await no_leftovers(io)


async def test_binary_attachments_per_packet(serve: Any) -> None:
    io = await serve(max_attachments=3)
    got: asyncio.Queue[Any] = asyncio.Queue()
    reasons: asyncio.Queue[str] = asyncio.Queue()
    io.on("blobs", lambda socket, *args: got.put_nowait(args))
    io.on("disconnect", lambda socket, reason: reasons.put_nowait(reason))

    def event(count: int) -> str:
        placeholders = [{"_placeholder": True, "num": n} for n in range(count)]
        return f"45{count}-" + json.dumps(["blobs", *placeholders])

    ws = await ws_open(io)
    await ws.send("40")
    await recv(ws)
    await ws.send(event(3))
    for n in range(3):
        await ws.send(bytes([n]))
    assert await asyncio.wait_for(got.get(), WAIT) == (b"\x00", b"\x01", b"\x02")
    await ws.send(event(4))  # one too many: the connection is closed (Node's client.onerror)
    with pytest.raises(ConnectionClosed):
        while True:
            await recv(ws)
    assert await asyncio.wait_for(reasons.get(), WAIT) == "forced close"
    await no_leftovers(io)


async def test_polling_queue_is_bounded(serve: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="roomcast.engine")
    io = await serve(max_write_buffer=64 << 10)
    reasons: asyncio.Queue[str] = asyncio.Queue()
    io.on("disconnect", lambda socket, reason: reasons.put_nowait(reason))
    async with httpx.AsyncClient(timeout=WAIT) as http:
        sid = json.loads((await http.get(url(io), params=EIO)).text[1:])["sid"]
        session = {**EIO, "sid": sid}
        assert (await http.post(url(io), params=session, content="40")).text == "ok"
        assert (await http.get(url(io), params=session)).text.startswith("40{")
        # the client stops polling; the server keeps sending
        for _ in range(100):
            io.emit("news", "x" * 1000)
        assert await asyncio.wait_for(reasons.get(), WAIT) == "transport error"
        assert sid not in io.engine.sessions
        late = await http.get(url(io), params=session)
        assert late.json() == {"code": 1, "message": "Session ID unknown"}
    full = [r for r in caplog.records if "write buffer full" in r.getMessage()]
    assert len(full) == 1
    await no_leftovers(io)


async def test_session_ids(serve: Any) -> None:
    io = await serve()
    async with httpx.AsyncClient(timeout=WAIT) as http:
        sids = [
            json.loads((await http.get(url(io), params=EIO)).text[1:])["sid"] for _ in range(200)
        ]
    assert len(set(sids)) == len(sids)
    for sid in sids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{24}", sid)  # URL-safe, no padding
        assert len(base64.urlsafe_b64decode(sid)) * 8 >= 128


async def test_sid_over_the_other_transport_reads_nothing(serve: Any) -> None:
    io = await serve()
    sockets: asyncio.Queue[Socket] = asyncio.Queue()
    io.on("connection", sockets.put_nowait)
    async with httpx.AsyncClient(timeout=WAIT) as http:
        # a WebSocket session: a polling GET or POST with its sid is refused, reads nothing
        ws = await ws_open(io)
        await ws.send("40")
        await recv(ws)
        ws_sid = next(iter(io.engine.sessions))
        get = asyncio.ensure_future(http.get(url(io), params={**EIO, "sid": ws_sid}))
        post = await http.post(url(io), params={**EIO, "sid": ws_sid}, content='42["x"]')
        assert (await get).json() == {"code": 3, "message": "Bad request"}
        assert post.json() == {"code": 3, "message": "Bad request"}
        (await sockets.get()).emit("secret", 1)
        assert await recv(ws) == '42["secret",1]'

        # a polling session: a WebSocket with its sid that does not finish the upgrade gets
        # only the probe answer, never the session's packets
        open_packet = (await http.get(url(io), params=EIO)).text
        sid = json.loads(open_packet[1:])["sid"]
        await http.post(url(io), params={**EIO, "sid": sid}, content="40")
        assert (await http.get(url(io), params={**EIO, "sid": sid})).text.startswith("40{")
        thief = await ws_open(io, sid=sid)
        await thief.send("2probe")
        assert await recv(thief) == "3probe"
        (await sockets.get()).emit("secret", 2)
        poll = await http.get(url(io), params={**EIO, "sid": sid})
        assert poll.text in ('42["secret",2]', '6\x1e42["secret",2]')
        await thief.close()
        await ws.close()
        assert (await http.post(url(io), params={**EIO, "sid": sid}, content="1")).text == "ok"
    await no_leftovers(io)


async def test_allow_request_refuses_on_address(serve: Any) -> None:
    def not_from_loopback(request: Request) -> bool | str:
        address = request.remote_address[0] if request.remote_address else ""
        return not address.startswith("127.") or f"{address} is not allowed"

    io = await serve(allow_request=not_from_loopback)
    async with httpx.AsyncClient(timeout=WAIT) as http:
        refused = await http.get(url(io), params=EIO)
    assert refused.status_code == 403
    assert refused.json() == {"code": 4, "message": "127.0.0.1 is not allowed"}
    with pytest.raises(InvalidStatus) as caught:
        await ws_open(io)
    assert caught.value.response.status_code == 400  # Node's abortUpgrade answer
    assert caught.value.response.body == b"127.0.0.1 is not allowed"
    assert not io.engine.sessions
