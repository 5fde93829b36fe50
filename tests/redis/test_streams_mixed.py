"""The Redis Streams adapter in a mixed cluster: Node socket.io 4.8 with
@socket.io/redis-streams-adapter 0.3 and roomcast servers on one Redis, each test with its own
stream name, channel prefix and session key prefix."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio

from roomcast.rooms.redis_streams import redis_streams_adapter
from roomcast.socketio.broadcast import RemoteSocket
from roomcast.socketio.server import Server
from tests.socketio.conftest import ClientFactory, SioClient, url_of
from tests.waiting import until_async

from .conftest import WAIT, Names, NodeStreamsServer, RedisServer, setup_app, until, wait_servers
from .test_cluster import DISCONNECTED, next_of, received_until_end


class Mixed:
    """``py`` (roomcast) and ``node`` servers; ``p1``/``n1`` in room ``r`` on each, ``p2``/``n2``
    in room ``lobby``."""

    py: Server
    node: NodeStreamsServer
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
    redis_server: RedisServer, node: str, clients: ClientFactory, names: Names
) -> AsyncIterator[Mixed]:
    m = Mixed()
    m.node = await NodeStreamsServer.start(node, redis_server.url, **names.node)
    m.py = setup_app(Server(adapter=redis_streams_adapter(redis_server.url, **names.python)), "py")
    await m.py.listen("127.0.0.1", 0)
    try:
        await wait_servers(redis_server.url, names.channel, 2)
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
        mixed.py.except_("r").emit("py-others", [1, {"deep": True}])
        mixed.py.local.emit("py-local-only")
        mixed.py.emit("end")

    got = await mixed.end(from_python)
    news = ("py-news", [1, "é", b"\x00\x01", {"k": None, "f": 1.5}])
    others = ("py-others", [[1, {"deep": True}]])
    assert got == {
        "p1": [news, ("py-local-only", [])],
        "n1": [news],
        "p2": [others, ("py-local-only", [])],
        "n2": [others],
    }

    async def from_node() -> None:
        await mixed.node.command("emit", room="r", event="node-news", args=[2, b"\xff", [True]])
        await mixed.node.command("emit", event="node-others", args=[], **{"except": "r"})
        await mixed.node.command("emit", event="end", args=[])

    got = await mixed.end(from_node)
    node_news = ("node-news", [2, b"\xff", [True]])
    assert got["p1"] == got["n1"] == [node_news]
    assert got["p2"] == got["n2"] == [("node-others", [])]


async def test_server_count_and_fetch_sockets_both_ways(mixed: Mixed) -> None:
    assert await mixed.py.sockets.adapter.server_count() == 2
    assert await mixed.node.command("count") == 2

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
    await mixed.node.command("leave", target="vip", room="vip")
    await until(lambda: "vip" not in local.rooms)

    mixed.py.in_("lobby").sockets_join("vip")  # reaches n2 on the Node server
    await until_async(
        lambda: mixed.node.command("fetch", room="vip"),
        lambda found: {s["id"] for s in found} == {mixed.p2.sid, mixed.n2.sid},
    )
    mixed.py.in_("vip").sockets_leave("lobby")
    await until_async(
        lambda: mixed.node.command("fetch", room="lobby"),
        lambda found: found == [],
    )
    await mixed.node.command("join", target="r", room="vip")
    await until(lambda: "vip" in local.rooms)
    await mixed.node.command("disconnect", target="vip")
    for client in (mixed.p1, mixed.p2, mixed.n1, mixed.n2):
        assert await client.reason() in DISCONNECTED
    assert await mixed.py.fetch_sockets() == []

    mixed.py.disconnect_sockets()  # nothing left: nothing happens, nothing breaks
    assert await mixed.node.command("fetch") == []


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
    mixed.py.server_side_emit("note", {"from": "py"}, b"\x01")
    await until_async(
        lambda: mixed.node.command("events"),
        lambda events: ["note", {"from": "py"}, b"\x01"] in events,
    )
    heard: list[Any] = []
    mixed.py.on_server_side_emit("note", lambda *args: heard.append(list(args)))
    await mixed.node.command("ssemit", event="note", args=[{"from": "node"}])
    await until(lambda: heard == [[{"from": "node"}]])


async def test_two_roomcast_servers_and_node_share_one_stream(
    redis_server: RedisServer, node: str, clients: ClientFactory, names: Names
) -> None:
    node_server = await NodeStreamsServer.start(node, redis_server.url, **names.node)
    made = [
        setup_app(Server(adapter=redis_streams_adapter(redis_server.url, **names.python)), n)
        for n in ("a", "b")
    ]
    try:
        for io in made:
            await io.listen("127.0.0.1", 0)
        await wait_servers(redis_server.url, names.channel, 3)
        a, b = made
        on_b = clients()
        await on_b.connect(url_of(b))
        assert await on_b.call("join", "r") == ["joined"]
        assert await a.sockets.adapter.server_count() == 3
        a.to("r").emit("from-a", 1)
        assert await next_of(on_b) == ("from-a", [1])
        assert [s.data for s in await a.in_("r").fetch_sockets()] == [{"server": "b"}]
        a.on_server_side_emit("ping", lambda n: n * 2)
        assert sorted(await b.server_side_emit_with_ack("ping", 3)) == [4, 6]
    finally:
        for io in made:
            await io.close()
        await node_server.close()


async def test_malformed_stream_entries_and_messages_are_ignored(
    mixed: Mixed, redis_server: RedisServer, names: Names
) -> None:
    client = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        stream = names.python["stream_name"]
        await client.xadd(stream, {"uid": "x", "nsp": "/", "type": "3", "data": "{not json"})
        await client.xadd(stream, {"uid": "x", "nsp": "/", "type": "3", "data": "%%%"})
        await client.xadd(stream, {"uid": "x", "nsp": "/", "type": "nope"})
        await client.xadd(stream, {"nothing": "here"})
        await client.publish(names.channel, b"\xc1garbage")
        await client.publish(names.channel, b"\x93\x01\x02\x03")
    finally:
        await client.aclose()

    async def from_node() -> None:
        await mixed.node.command("emit", event="end", args=[])

    got = await mixed.end(from_node)
    assert got == {"p1": [], "p2": [], "n1": [], "n2": []}
