"""A mixed cluster: Node socket.io 4.8 with @socket.io/redis-adapter 8.3 and a roomcast server on
one Redis, both with the adapter's default channel prefix."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from roomcast.rooms.redis import redis_adapter
from roomcast.socketio.broadcast import RemoteSocket
from roomcast.socketio.server import Server
from tests.socketio.conftest import ClientFactory, SioClient, url_of
from tests.waiting import until_async

from .conftest import WAIT, NodeServer, RedisServer, setup_app, until, wait_servers
from .test_cluster import DISCONNECTED, next_of, received_until_end


class Mixed:
    """``py`` (roomcast) and ``node`` servers; ``p1``/``n1`` in room ``r`` on each, ``p2``/``n2``
    in no room."""

    py: Server
    node: NodeServer
    p1: SioClient
    p2: SioClient
    n1: SioClient
    n2: SioClient

    async def end(self, emit: Any) -> dict[str, list[tuple[str, list[Any]]]]:
        """Run ``emit()`` (which sends ``end`` to everyone); what each client got before it."""
        await emit()
        clients = {"p1": self.p1, "p2": self.p2, "n1": self.n1, "n2": self.n2}
        got = await asyncio.gather(*(received_until_end(c) for c in clients.values()))
        return dict(zip(clients, got, strict=True))


@pytest.fixture
async def mixed(
    redis_server: RedisServer, node: str, clients: ClientFactory
) -> AsyncIterator[Mixed]:
    m = Mixed()
    m.node = await NodeServer.start(node, redis_server.url)
    m.py = setup_app(Server(adapter=redis_adapter(redis_server.url)), "py")
    await m.py.listen("127.0.0.1", 0)
    try:
        await wait_servers(redis_server.url, "socket.io-request#/#", 2)
        for name, url, room in (
            ("p1", url_of(m.py), "r"),
            ("p2", url_of(m.py), "lobby"),
            ("n1", m.node.url, "r"),
            ("n2", m.node.url, "lobby"),
        ):
            client = clients()
            await client.connect(url, auth={"user": name})
            assert await client.call("join", room) == ["joined"]
            setattr(m, name, client)
        yield m
    finally:
        await m.py.close()
        await m.node.close()


async def test_broadcasts_from_either_reach_clients_of_both(mixed: Mixed) -> None:
    async def from_python() -> None:
        mixed.py.to("r").emit("py-news", 1, "é", b"\x00\x01", {"k": None, "f": 1.5})
        mixed.py.except_("r").emit("py-others")
        mixed.py.emit("end")

    got = await mixed.end(from_python)
    news = ("py-news", [1, "é", b"\x00\x01", {"k": None, "f": 1.5}])
    assert got == {"p1": [news], "n1": [news], "p2": [("py-others", [])], "n2": [("py-others", [])]}

    async def from_node() -> None:
        await mixed.node.command("emit", room="r", event="node-news", args=[2, b"\xff", [True]])
        await mixed.node.command("emit", event="everyone", args=[])
        await mixed.node.command("emit", event="end", args=[])

    got = await mixed.end(from_node)
    news = ("node-news", [2, b"\xff", [True]])
    assert got["p1"] == got["n1"] == [news, ("everyone", [])]
    assert got["p2"] == got["n2"] == [("everyone", [])]


async def test_fetch_sockets_both_ways(mixed: Mixed) -> None:
    seen_by_node = await mixed.node.command("fetch", room="r")
    by_id = {s["id"]: s for s in seen_by_node}
    assert set(by_id) == {mixed.p1.sid, mixed.n1.sid}
    py_socket = by_id[mixed.p1.sid]
    assert py_socket["local"] is False
    assert py_socket["data"] == {"server": "py"}
    assert py_socket["auth"] == {"user": "p1"}
    assert set(py_socket["rooms"]) == {"r", mixed.p1.sid}

    seen_by_python = await mixed.py.in_("r").fetch_sockets()
    (remote,) = [s for s in seen_by_python if isinstance(s, RemoteSocket)]
    assert {s.id for s in seen_by_python} == {mixed.p1.sid, mixed.n1.sid}
    assert remote.id == mixed.n1.sid
    assert remote.data == {"server": "node"}
    assert remote.handshake.auth == {"user": "n1"}
    assert remote.rooms == {"r", remote.id}


async def test_remote_socket_operations_both_ways(mixed: Mixed) -> None:
    (remote,) = [s for s in await mixed.py.fetch_sockets() if s.id == mixed.n1.sid]
    remote.emit("direct", "to node's socket")
    assert await next_of(mixed.n1) == ("direct", ["to node's socket"])
    await mixed.n1.reply("question", "node's answer")
    assert await remote.emit_with_ack("question", timeout=WAIT) == "node's answer"

    await mixed.node.command("remote", sid=mixed.p1.sid, action="emit", event="hi", args=[3])
    assert await next_of(mixed.p1) == ("hi", [3])
    await mixed.node.command("remote", sid=mixed.p1.sid, action="join", room="vip")
    local = mixed.py.sockets.sockets[str(mixed.p1.sid)]
    await until(lambda: "vip" in local.rooms)

    mixed.py.in_("lobby").sockets_join("vip")  # reaches n2 on the Node server
    await until_async(
        lambda: mixed.node.command("fetch", room="vip"),
        lambda found: {s["id"] for s in found} == {mixed.p1.sid, mixed.p2.sid, mixed.n2.sid},
    )
    await mixed.node.command("disconnect", target="vip")
    for client in (mixed.p1, mixed.p2, mixed.n2):
        assert await client.reason() in DISCONNECTED
    assert [s.id for s in await mixed.py.fetch_sockets()] == [mixed.n1.sid]


async def test_broadcast_acks_and_server_side_emits_both_ways(mixed: Mixed) -> None:
    for client, answer in ((mixed.p1, "p1 says"), (mixed.n1, "n1 says")):
        await client.reply("ask", answer)
    assert sorted(await mixed.py.timeout(WAIT).to("r").emit_with_ack("ask")) == [
        "n1 says",
        "p1 says",
    ]
    answers = await mixed.node.command("ask", room="r", event="ask", args=[], timeout=WAIT)
    assert sorted(answers) == ["n1 says", "p1 says"]

    mixed.py.on_server_side_emit("ping", lambda n: n * 10)
    assert await mixed.node.command("ssemit", event="ping", args=[4], ack=True) == [40]
    assert await mixed.py.server_side_emit_with_ack("ping", 4) == [5]
    mixed.py.server_side_emit("note", {"from": "py"}, [1, 2])
    await until_async(
        lambda: mixed.node.command("events"),
        lambda events: ["note", {"from": "py"}, [1, 2]] in events,
    )
