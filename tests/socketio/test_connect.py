"""Connecting: auth, middleware refusals, unknown and dynamic namespaces, several at once."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from roomcast.errors import ConnectionRefused
from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket

from .conftest import WAIT, ClientFactory, ConnectFailed, url_of


async def test_connect_with_auth(io: Server, clients: ClientFactory) -> None:
    seen: asyncio.Future[Socket] = asyncio.get_running_loop().create_future()
    io.on("connection", seen.set_result)
    client = clients()
    await client.connect(url_of(io), auth={"token": "abc", "n": 1})
    socket = await asyncio.wait_for(seen, WAIT)
    assert socket.handshake.auth == {"token": "abc", "n": 1}
    assert client.sid == socket.id
    assert socket.rooms == {socket.id}
    assert socket.handshake.query["EIO"] == "4"
    assert socket.handshake.address == "127.0.0.1"
    assert socket.handshake.url.startswith("/socket.io/?")
    assert socket.nsp is io.sockets and io.sockets.sockets == {socket.id: socket}


async def test_middleware_refusal_reaches_the_client(io: Server, clients: ClientFactory) -> None:
    order: list[str] = []

    async def first(socket: Socket) -> None:
        order.append("first")
        socket.data["user"] = socket.handshake.auth.get("user")
        socket.join("early")  # rooms joined before a refusal are left again

    def second(socket: Socket) -> None:
        order.append("second")
        if socket.data["user"] != "alice":
            raise ConnectionRefused("not allowed", {"code": 42, "why": ["user"]})

    io.use(first)
    io.use(second)
    connected: list[Socket] = []
    io.on("connection", connected.append)
    with pytest.raises(ConnectFailed) as refused:
        await clients().connect(url_of(io), auth={"user": "bob"})
    assert refused.value.message == "not allowed"
    assert refused.value.data == {"code": 42, "why": ["user"]}
    assert order == ["first", "second"] and connected == []
    assert io.sockets.sockets == {} and io.sockets.adapter.rooms == {}
    accepted = clients()
    await accepted.connect(url_of(io), auth={"user": "alice"})
    assert [s.data["user"] for s in connected] == ["alice"]
    assert connected[0].rooms == {connected[0].id, "early"}


async def test_plain_middlewares_run_at_once_and_an_async_one_continues_in_a_task(
    io: Server, clients: ClientFactory
) -> None:
    ran: list[tuple[str, bool]] = []

    def plain(socket: Socket) -> None:  # no task is made for plain functions
        ran.append(("plain", asyncio.current_task() is not None))

    async def waits(socket: Socket) -> None:
        await asyncio.sleep(0)
        ran.append(("waits", True))

    def after(socket: Socket) -> None:
        ran.append(("after", asyncio.current_task() is not None))
        if socket.handshake.auth.get("crash"):
            raise RuntimeError("a bug in the middleware")

    io.use(plain)
    connected: list[Socket] = []
    io.on("connection", connected.append)
    await clients().connect(url_of(io))
    assert ran == [("plain", False)] and len(connected) == 1
    io.use(waits)
    io.use(after)
    ran.clear()
    await clients().connect(url_of(io))
    assert ran == [("plain", False), ("waits", True), ("after", True)] and len(connected) == 2
    with pytest.raises(ConnectFailed) as refused:
        await clients().connect(url_of(io), auth={"crash": True})
    assert refused.value.message == "Internal server error"
    assert len(connected) == 2


async def test_refusal_without_data(io: Server, clients: ClientFactory) -> None:
    def refuse(socket: Socket) -> None:
        raise ConnectionRefused("go away")

    io.of("/private").use(refuse)
    with pytest.raises(ConnectFailed) as refused:
        await clients().connect(url_of(io), "/private")
    assert refused.value.message == "go away"
    assert refused.value.data is None


async def test_unknown_namespace(io: Server, clients: ClientFactory) -> None:
    with pytest.raises(ConnectFailed) as refused:
        await clients().connect(url_of(io), "/nope")
    assert refused.value.message == "Invalid namespace"
    assert "/nope" not in io.namespaces


async def test_dynamic_namespace_by_regex(io: Server, clients: ClientFactory) -> None:
    parent = io.of(re.compile(r"^/dyn-\d+$"))
    seen: asyncio.Queue[Socket] = asyncio.Queue()
    parent.on("connection", seen.put_nowait)

    @parent.on("where")
    def where(socket: Socket) -> str:
        return socket.nsp.name

    client = clients()
    await client.connect(url_of(io), "/dyn-42")
    socket = await asyncio.wait_for(seen.get(), WAIT)
    assert socket.nsp.name == "/dyn-42" and socket.nsp.parent is parent
    assert io.namespaces["/dyn-42"] is socket.nsp
    assert await client.call("where") == ["/dyn-42"]
    with pytest.raises(ConnectFailed) as refused:
        await clients().connect(url_of(io), "/dyn-x")
    assert refused.value.message == "Invalid namespace"


async def test_dynamic_namespace_by_callable(io: Server, clients: ClientFactory) -> None:
    asked: list[tuple[str, Any]] = []

    async def allow(name: str, auth: dict[str, Any]) -> bool:
        asked.append((name, auth))
        return name.startswith("/team-") and auth.get("ok") is True

    parent = io.of(allow)
    seen: asyncio.Queue[Socket] = asyncio.Queue()
    parent.on("connection", seen.put_nowait)
    await clients().connect(url_of(io), "/team-a", auth={"ok": True})
    socket = await asyncio.wait_for(seen.get(), WAIT)
    assert socket.nsp.name == "/team-a"
    with pytest.raises(ConnectFailed):
        await clients().connect(url_of(io), "/team-b", auth={"ok": False})
    assert asked == [("/team-a", {"ok": True}), ("/team-b", {"ok": False})]


async def test_handshake_time_and_headers(io: Server, clients: ClientFactory) -> None:
    seen: asyncio.Future[Socket] = asyncio.get_running_loop().create_future()
    io.on("connection", seen.set_result)
    await clients().connect(url_of(io))
    socket = await asyncio.wait_for(seen, WAIT)
    assert re.fullmatch(
        r"\w{3} \w{3} \d\d \d{4} \d\d:\d\d:\d\d GMT\+0000 \(.+\)", socket.handshake.time
    )
    assert socket.handshake.issued > 1_600_000_000_000
    assert "host" in socket.handshake.headers
