"""Two roomcast servers on one Redis: every adapter operation crosses between them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from roomcast.errors import AckTimeoutError
from roomcast.socketio.broadcast import RemoteSocket
from roomcast.socketio.server import Server
from tests.socketio.conftest import ClientFactory, SioClient, url_of

from .conftest import WAIT, RedisServer, ServerFactory, until, wait_servers

DISCONNECTED = ("io server disconnect", "server disconnect")
"""A server-side disconnect as Node's client and python-socketio report it."""


async def next_of(client: SioClient) -> tuple[str, list[Any]]:
    """The next event the client received, with its name."""
    return await asyncio.wait_for(client.events.get(), WAIT)


async def received_until_end(client: SioClient) -> list[tuple[str, list[Any]]]:
    """Every event the client receives up to (not including) the ``end`` marker."""
    events = []
    while (event := await next_of(client))[0] != "end":
        events.append(event)
    return events


class Cluster:
    """Servers ``a`` and ``b``; clients ``a1``, ``a2`` on ``a`` and ``b1``, ``b2`` on ``b``;
    ``a1`` and ``b1`` in room ``r``, ``a2`` and ``b2`` in room ``other``."""

    a: Server
    b: Server
    a1: SioClient
    a2: SioClient
    b1: SioClient
    b2: SioClient

    @property
    def everyone(self) -> list[SioClient]:
        return [self.a1, self.a2, self.b1, self.b2]

    async def end(self, sender: Server | None = None) -> dict[str, list[tuple[str, list[Any]]]]:
        """Broadcast ``end`` to everyone from ``sender`` (default ``a``); what each client got
        before it. (Order holds per sending server, not between servers.)"""
        (sender or self.a).emit("end")
        names = ["a1", "a2", "b1", "b2"]
        got = await asyncio.gather(*(received_until_end(c) for c in self.everyone))
        return dict(zip(names, got, strict=True))


@pytest.fixture
async def cluster(
    servers: ServerFactory, clients: ClientFactory, redis_server: RedisServer, key: str
) -> Cluster:
    c = Cluster()
    c.a, c.b = await servers("a"), await servers("b")
    await wait_servers(redis_server.url, f"{key}-request#/#", 2)
    for name, io, room in (("a1", c.a, "r"), ("a2", c.a, "other"), ("b1", c.b, "r")):
        client = clients()
        await client.connect(url_of(io), auth={"user": name})
        assert await client.call("join", room) == ["joined"]
        setattr(c, name, client)
    c.b2 = clients()
    await c.b2.connect(url_of(c.b), auth={"user": "b2"})
    assert await c.b2.call("join", "other") == ["joined"]
    return c


async def test_room_broadcast_reaches_every_member_on_both_servers_once(cluster: Cluster) -> None:
    cluster.a.to("r").emit("news", 1, {"text": "é"}, b"\x00\xff")
    cluster.a.to(["r", "other"]).emit("both-rooms")
    got = await cluster.end()
    news = ("news", [1, {"text": "é"}, b"\x00\xff"])
    for member in ("a1", "b1"):
        assert got[member] == [news, ("both-rooms", [])]
    for other in ("a2", "b2"):
        assert got[other] == [("both-rooms", [])]
    cluster.b.to("r").emit("from-b", 2.5)
    got = await cluster.end(cluster.b)
    assert got == {"a1": [("from-b", [2.5])], "a2": [], "b1": [("from-b", [2.5])], "b2": []}


async def test_except_local_and_socket_broadcast(cluster: Cluster) -> None:
    cluster.a.except_("other").emit("not-other")
    cluster.a.local.emit("local-only")
    cluster.b.to("r").local.emit("local-room")
    sender = cluster.a.sockets.sockets[str(cluster.a1.sid)]
    sender.broadcast.emit("from-a1")
    got = await cluster.end()
    assert got["a1"] == [("not-other", []), ("local-only", [])]
    assert got["a2"] == [("local-only", []), ("from-a1", [])]
    # b's own local emit is not ordered with a's broadcasts coming through Redis
    assert sorted(got["b1"]) == [("from-a1", []), ("local-room", []), ("not-other", [])]
    assert got["b2"] == [("from-a1", [])]


async def test_broadcast_with_acks_gathers_answers_from_both_servers(cluster: Cluster) -> None:
    await cluster.a1.reply("ask", "from a1")
    await cluster.b1.reply("ask", "from b1")
    answers = await cluster.a.timeout(WAIT).to("r").emit_with_ack("ask", 1)
    assert sorted(answers) == ["from a1", "from b1"]
    answers = await cluster.b.timeout(WAIT).emit_with_ack("ask", 2)
    assert len(answers) == 4 and {"from a1", "from b1"} <= set(answers)


async def test_broadcast_with_acks_times_out_with_the_answers_that_came(cluster: Cluster) -> None:
    await cluster.a1.reply("ask", "from a1")
    await cluster.b1.hold("ask")
    with pytest.raises(AckTimeoutError) as raised:
        await cluster.a.timeout(0.5).to("r").emit_with_ack("ask")
    assert raised.value.responses == ["from a1"]


async def test_fetch_sockets_sees_remote_sockets_that_act_remotely(cluster: Cluster) -> None:
    sockets = await cluster.a.in_("r").fetch_sockets()
    assert {s.id for s in sockets} == {cluster.a1.sid, cluster.b1.sid}
    (remote,) = [s for s in sockets if isinstance(s, RemoteSocket)]
    assert remote.id == cluster.b1.sid
    assert remote.data == {"server": "b"}
    assert remote.rooms == {"r", remote.id}
    assert remote.handshake.auth == {"user": "b1"}
    assert remote.handshake.query["transport"] == "websocket"

    local = cluster.b.sockets.sockets[remote.id]
    remote.emit("direct", 5)
    assert await next_of(cluster.b1) == ("direct", [5])
    await cluster.b1.reply("question", 42)
    assert await remote.emit_with_ack("question", timeout=WAIT) == 42
    remote.join("vip")
    await until(lambda: "vip" in local.rooms)
    remote.leave("r")
    await until(lambda: "r" not in local.rooms)
    assert {s.id for s in await cluster.a.in_("vip").fetch_sockets()} == {remote.id}
    remote.disconnect()
    assert await cluster.b1.reason() in DISCONNECTED
    assert not local.connected


async def test_sockets_join_leave_and_disconnect_sockets_across_servers(cluster: Cluster) -> None:
    cluster.a.in_("r").sockets_join("joined")
    b_socket = cluster.b.sockets.sockets[str(cluster.b1.sid)]
    await until(lambda: "joined" in b_socket.rooms)
    cluster.a.to("joined").emit("to-joined")
    assert await next_of(cluster.a1) == await next_of(cluster.b1) == ("to-joined", [])
    cluster.b.in_("r").sockets_leave("joined")
    a_socket = cluster.a.sockets.sockets[str(cluster.a1.sid)]
    await until(lambda: "joined" not in a_socket.rooms)
    assert "joined" not in b_socket.rooms
    cluster.a.to("joined").emit("nobody")
    got = await cluster.end()
    assert got == {"a1": [], "a2": [], "b1": [], "b2": []}

    cluster.b.in_("other").disconnect_sockets()
    for client in (cluster.a2, cluster.b2):
        assert await client.reason() in DISCONNECTED
    assert {s.id for s in await cluster.b.fetch_sockets()} == {cluster.a1.sid, cluster.b1.sid}


async def test_server_side_emit_with_and_without_acks(
    servers: ServerFactory, redis_server: RedisServer, key: str
) -> None:
    a, b, c = await servers("a"), await servers("b"), await servers("c")
    await wait_servers(redis_server.url, f"{key}-request#/#", 3)
    notes: asyncio.Queue[tuple[str, list[Any]]] = asyncio.Queue()
    for name, io in (("a", a), ("b", b), ("c", c)):
        io.on_server_side_emit(
            "note", lambda *args, name=name: notes.put_nowait((name, list(args)))
        )
    b.on_server_side_emit("ping", lambda n: n + 1)

    @c.on_server_side_emit("ping")
    async def later(n: int) -> int:
        return n + 2

    a.server_side_emit("note", "hello", {"n": 1})
    got = [await asyncio.wait_for(notes.get(), WAIT), await asyncio.wait_for(notes.get(), WAIT)]
    assert sorted(name for name, _ in got) == ["b", "c"]  # never the sender
    assert all(args == ["hello", {"n": 1}] for _, args in got)
    assert sorted(await a.server_side_emit_with_ack("ping", 1)) == [2, 3]

    with pytest.raises(AckTimeoutError) as raised:  # a has no "ping" handler: never answers
        await b.server_side_emit_with_ack("ping", 1, timeout=0.5)
    assert raised.value.responses == [3]


async def test_server_count_and_all_rooms(
    servers: ServerFactory, redis_server: RedisServer, key: str
) -> None:
    a, b = await servers("a"), await servers("b")
    await wait_servers(redis_server.url, f"{key}-request#/#", 2)
    assert await a.sockets.adapter.server_count() == 2
    a.sockets.adapter.add_all("x", ["room-a"])
    b.sockets.adapter.add_all("y", ["room-b"])
    rooms = await a.sockets.adapter.all_rooms()  # type: ignore[attr-defined]
    assert {"room-a", "room-b"} <= rooms


async def test_broadcast_with_acks_without_timeout_counts_a_remote_leaver_as_answered(
    cluster: Cluster,
) -> None:
    await cluster.a1.reply("ask", "from a1")
    await cluster.b1.hold("ask")
    call = asyncio.ensure_future(cluster.a.to("r").emit_with_ack("ask"))
    assert await cluster.b1.next_event("ask") == []
    await cluster.b1.disconnect()
    assert sorted(await asyncio.wait_for(call, WAIT), key=str) == [None, "from a1"]


async def test_broadcast_with_acks_without_timeout_gives_up_on_a_silent_server(
    servers: ServerFactory, clients: ClientFactory, redis_server: RedisServer, key: str
) -> None:
    """A remote server that never answers (its client holds the ack; or the server is gone):
    without a timeout, the call fails after the adapter's requests_timeout with what came."""
    a = await servers("a", requests_timeout=0.5)
    b = await servers("b")
    await wait_servers(redis_server.url, f"{key}-request#/#", 2)
    on_a, on_b = clients(), clients()
    await on_a.connect(url_of(a))
    await on_b.connect(url_of(b))
    await on_a.reply("ask", "from a")
    await on_b.hold("ask")
    with pytest.raises(AckTimeoutError) as raised:
        await asyncio.wait_for(a.emit_with_ack("ask"), WAIT)
    assert raised.value.responses == ["from a"]
