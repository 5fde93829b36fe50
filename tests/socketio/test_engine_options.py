"""Issue #14 end to end with Node's socket.io-client: ``io.engine.use`` (a session read from the
request, a refusal), the sticky ``cookie`` the client sends back on every later request and on
its WebSocket upgrade, and the header hooks the client's requests go through."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from roomcast.engine.http import Request, Response
from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket
from tests.waiting import until, until_async

from .conftest import ConnectFailed, NodeClient, NodeDriver, url_of


@pytest.fixture
async def driver(node: str) -> AsyncIterator[NodeDriver]:
    started = await NodeDriver.start(node)
    try:
        yield started
    finally:
        await started.close()


async def test_middleware_cookie_and_hooks_with_socket_io_client(driver: NodeDriver) -> None:
    hooked: list[tuple[str, bool]] = []

    def initial_headers(headers: dict[str, str | list[str]], request: Request) -> None:
        hooked.append((request.query["transport"], True))

    def every_answer(headers: dict[str, str | list[str]], request: Request) -> None:
        hooked.append((request.query["transport"], False))

    io = Server(cookie=True, initial_headers=initial_headers, headers=every_answer)
    requests: list[tuple[str, str | None, str]] = []
    """(what: GET, POST or websocket, the sid in the query, the Cookie header)"""

    @io.engine.use
    def session_from_header(request: Request) -> Response | None:
        what = "websocket" if request.headers.get("upgrade") else request.method
        requests.append((what, request.query.get("sid"), request.headers.get("cookie", "")))
        user = request.headers.get("x-user")
        if user == "mallory":
            return Response(403, [("Content-Type", "text/plain")], b"not you")
        request.state = {"user": user}
        return None

    @io.on("connection")
    def welcome(socket: Socket) -> None:
        socket.emit("whoami", socket.conn.request.state["user"])

    await io.listen("127.0.0.1", 0)
    try:
        client = NodeClient(driver, ["polling", "websocket"])
        client.options = {"withCredentials": True, "extraHeaders": {"x-user": "ann"}}
        await client.connect(url_of(io))
        assert await client.next_event("whoami") == ["ann"]
        sid = next(iter(io.engine.sessions))
        await until_async(
            lambda: driver.command("transport", name=client.name), lambda t: t == "websocket"
        )
        later = [(what, cookie) for what, request_sid, cookie in requests if request_sid]
        assert {"POST", "websocket"} <= {what for what, _ in later}, requests
        assert all(f"io={sid}" in cookie for _, cookie in later), requests
        assert requests[0][2] == ""  # no cookie before the handshake
        assert ("polling", True) in hooked and ("polling", False) in hooked

        refused = NodeClient(driver, ["polling", "websocket"])
        refused.options = {"extraHeaders": {"x-user": "mallory"}}
        with pytest.raises(ConnectFailed):
            await refused.connect(url_of(io))
        assert len(io.engine.sessions) == 1
    finally:
        await io.close()


async def test_compress_false_emits_skip_http_compression_on_polling() -> None:
    io = Server()
    connected: list[Socket] = []
    io.on("connection", connected.append)
    await io.listen("127.0.0.1", 0)
    url = url_of(io) + "/socket.io/"
    try:
        async with httpx.AsyncClient(headers={"accept-encoding": "gzip"}) as http:
            params = {"EIO": "4", "transport": "polling"}
            opened = await http.get(url, params=params)
            params["sid"] = json.loads(opened.text[1:])["sid"]
            await http.post(url, params=params, content="40")
            assert (await http.get(url, params=params)).text.startswith("40")
            await until(lambda: bool(connected))
            socket = connected[0]
            text = "x" * 2000
            answers = []
            for emit in (
                lambda: socket.compress(False).emit("big", text),
                lambda: io.compress(False).emit("big", text),  # a broadcast
                lambda: socket.compress(False).emit("big", text, b"\x00" * 2000),  # 2 packets
                lambda: socket.emit("big", text),
            ):
                emit()
                answer = await http.get(url, params=params)
                assert answer.text.startswith("4") and text in answer.text
                answers.append(answer.headers.get("content-encoding"))
            assert answers == [None, None, None, "gzip"]
    finally:
        await io.close()
