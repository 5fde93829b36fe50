"""Connection state recovery across servers, end to end (issue #13): a Node socket.io-client
(tests/node/sio_client.js) drops from one server and comes back on another of the same Redis
stream, roomcast (through its Socket.IO layer, with ``RecoveryOptions``) or Node socket.io with
``@socket.io/redis-streams-adapter``. It gets back its id, rooms and data, and every event
broadcast to it meanwhile, from any server, once and in the stream's order, before new ones.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio

from roomcast.rooms.redis_streams import redis_streams_adapter
from roomcast.rooms.redis_streams_messages import decode_session
from roomcast.socketio.recovery import RecoveryOptions
from roomcast.socketio.server import Server
from tests.socketio.conftest import NodeClient, NodeDriver, url_of
from tests.waiting import until_async

from .conftest import WAIT, Names, NodeStreamsServer, RedisServer, setup_app, until, wait_servers
from .test_streams_recovery import PyApp

RECOVERY = 60.0


class Cluster:
    """roomcast servers ``a`` and ``b`` and a Node server on one Redis stream, recovery on
    everywhere, and a Node client driver."""

    a: Server
    b: Server
    node: NodeStreamsServer
    driver: NodeDriver
    redis: redis.asyncio.Redis
    names: Names

    def url(self, server: str) -> str:
        return self.node.url if server == "node" else url_of(getattr(self, server))

    def session_key(self, pid: str) -> str:
        return f"{self.names.key}:session:{pid}"

    async def entries_after(self, offset: str) -> list[str]:
        """The ids of the stream's entries after ``offset``."""
        entries = await self.redis.xrange(self.names.python["stream_name"], f"({offset}", "+")
        return [entry_id.decode() for entry_id, _ in entries]

    async def joined_client(self, server: str) -> tuple[NodeClient, str, str]:
        """A client on ``server`` in room "r" that got a broadcast, then an event emitted to its
        socket: (client, pid, offset). The socket's own emit carries an offset of the stream
        too (the one the client will recover from)."""
        client = NodeClient(self.driver, ["websocket"])
        await client.connect(self.url(server))
        assert await client.call("join", "r") == ["joined"]
        self.b.to("r").emit("first")
        (first,) = await client.next_event("first")
        if server == "node":
            await self.node.command("remote", sid=client.sid, action="emit", event="direct")
        else:
            io: Server = getattr(self, server)
            io.sockets.sockets[str(client.sid)].emit("direct")
        (offset,) = await client.next_event("direct")
        assert await self.entries_after(first) == [offset]
        state = await self.driver.command("state", name=client.name)
        assert state["offset"] == offset and state["pid"]
        return client, state["pid"], offset

    async def reconnect(self, client: NodeClient, server: str) -> dict[str, Any]:
        await self.driver.command("reconnect", name=client.name, url=self.url(server))
        return await asyncio.wait_for(client.connects.get(), WAIT)


def recovering(url: str, names: Names, **options: Any) -> Server:
    return Server(
        adapter=redis_streams_adapter(url, **names.python),
        connection_state_recovery=RecoveryOptions(max_disconnection_duration=RECOVERY, **options),
    )


@pytest.fixture
async def cluster(redis_server: RedisServer, node: str, names: Names) -> AsyncIterator[Cluster]:
    c = Cluster()
    c.names = names
    c.node = await NodeStreamsServer.start(node, redis_server.url, recovery=RECOVERY, **names.node)
    c.a = setup_app(recovering(redis_server.url, names), "a")
    c.b = setup_app(recovering(redis_server.url, names), "b")
    c.redis = redis.asyncio.Redis.from_url(redis_server.url)
    c.driver = await NodeDriver.start(node)
    try:
        for io in (c.a, c.b):
            await io.listen("127.0.0.1", 0)
        await wait_servers(redis_server.url, names.channel, 3)
        yield c
    finally:
        await c.driver.close()
        for io in (c.a, c.b):
            await io.close()
        await c.node.close()
        await c.redis.aclose()


async def broadcast_meanwhile(c: Cluster, sid: str, offset: str) -> list[str]:
    """Broadcasts from the three servers while the client is away; the ids of the stream's
    entries meant for it, in the stream's order (which of two servers appends first varies)."""
    c.b.to("r").emit("from-b", 1, b"\x01")
    await c.node.command("emit", room="r", event="from-node", args=[{"n": 2}])
    c.b.to("elsewhere").emit("not-for-it")
    c.a.except_("r").emit("not-for-it-either")
    c.b.to(sid).emit("to-its-own-room")
    c.a.emit("from-a-to-all")
    c.b.volatile.to("r").emit("volatile")
    ids = await until_async(lambda: c.entries_after(offset), lambda ids: len(ids) == 7)
    return ids


async def assert_missed_then_new(
    c: Cluster, client: NodeClient, ids: list[str], new_from: str
) -> None:
    """The client gets each missed event once, in the stream's order, then a new one (from
    the server it is on). Volatile events are not replayed, as with the memory adapter; Node's
    streams adapter replays them (it does not look at the flag)."""
    expected: dict[str, list[Any]] = {
        "from-b": [1, b"\x01"],
        "from-node": [{"n": 2}],
        "to-its-own-room": [],
        "from-a-to-all": [],
    }
    if new_from == "node":
        expected["volatile"] = []
    missed = [await asyncio.wait_for(client.events.get(), WAIT) for _ in expected]
    assert [args[-1] for _, args in missed] == [i for i in ids if i in {a[-1] for _, a in missed}]
    assert {event: args[:-1] for event, args in missed} == expected
    if new_from == "node":
        await c.node.command("emit", room="r", event="new", args=[])
    else:
        getattr(c, new_from).to("r").emit("new")
    event, args = await asyncio.wait_for(client.events.get(), WAIT)
    assert event == "new" and len(args) == 1 and args[0] not in ids
    assert client.events.empty()


async def assert_socket_on(c: Cluster, server: str, sid: str, data: dict[str, Any]) -> None:
    """Socket ``sid`` is on ``server`` with rooms {sid, "r"} and ``data``."""
    if server == "node":
        (found,) = await c.node.command("fetch", room="r")
        assert found["id"] == sid and found["local"] is True
        assert sorted(found["rooms"]) == sorted([sid, "r"])
        assert found["data"] == data
        return
    io: Server = getattr(c, server)
    socket = io.sockets.sockets[sid]
    assert socket.recovered is True
    assert socket.rooms == {sid, "r"}
    assert socket.data == data
    await assert_live_session(c, socket.pid, sid, data)


async def assert_live_session(c: Cluster, pid: str | None, sid: str, data: dict[str, Any]) -> None:
    """The session of connected socket ``sid`` is in Redis again (restoring it took it out): it
    would survive a crash of its new server too."""
    assert pid is not None

    def live(raw: bytes | None) -> bool:
        session = decode_session(raw) if raw else None
        return session is not None and session.sid == sid and set(session.rooms) == {sid, "r"}

    raw = await until_async(lambda: c.redis.get(c.session_key(pid)), live)
    session = decode_session(raw)
    assert session is not None and session.data == data


@pytest.mark.parametrize(
    ("origin", "target"),
    [("a", "b"), ("node", "b"), ("a", "node")],
    ids=["roomcast-to-roomcast", "node-to-roomcast", "roomcast-to-node"],
)
async def test_a_client_that_dropped_recovers_on_another_server(
    cluster: Cluster, origin: str, target: str
) -> None:
    c = cluster
    client, pid, offset = await c.joined_client(origin)
    sid = client.sid
    assert sid is not None
    await client.close_transport()  # the server sees "transport close": a recoverable reason
    assert await client.reason() == "forced close"  # the client's own word for it
    if origin == "node":
        await until_async(lambda: c.redis.exists(c.session_key(pid)), bool)
    else:  # its live session was in Redis already: wait until the server saw the close
        await until(lambda: sid not in c.a.sockets.sockets)
    ids = await broadcast_meanwhile(c, sid, offset)

    connect = await c.reconnect(client, target)
    assert connect == {"type": "connect", "name": client.name, "sid": sid, "recovered": True}
    await assert_missed_then_new(c, client, ids, target)
    await assert_socket_on(c, target, sid, {"server": origin})


async def test_a_client_of_a_killed_roomcast_server_recovers_on_another(
    cluster: Cluster, redis_server: RedisServer
) -> None:
    c = cluster
    app = await PyApp.start(redis_server.url, c.names, RECOVERY)
    try:
        await wait_servers(redis_server.url, c.names.channel, 4)
        client = NodeClient(c.driver, ["websocket"])
        await client.connect(app.url)
        assert await client.call("join", "r") == ["joined"]
        c.b.to("r").emit("first")
        (offset,) = await client.next_event("first")
        state = await c.driver.command("state", name=client.name)
        sid, pid = client.sid, state["pid"]
        assert sid is not None and pid

        def saved(raw: bytes | None) -> bool:
            session = decode_session(raw) if raw else None
            return session is not None and session.data == {"server": "py-app", "joined": "r"}

        await until_async(lambda: c.redis.get(c.session_key(pid)), saved)
        app.proc.send_signal(signal.SIGKILL)  # nothing persisted on the way out
        await app.proc.wait()
        assert await client.reason() == "transport close"
        ids = await broadcast_meanwhile(c, sid, offset)

        connect = await c.reconnect(client, "b")
        assert connect["sid"] == sid and connect["recovered"] is True
        await assert_missed_then_new(c, client, ids, "b")
        await assert_socket_on(c, "b", sid, {"server": "py-app", "joined": "r"})
    finally:
        if app.proc.returncode is None:
            app.proc.kill()
            await app.proc.wait()


async def test_a_recovered_socket_gets_what_was_broadcast_during_its_middleware(
    cluster: Cluster, redis_server: RedisServer
) -> None:
    c = cluster
    m = recovering(redis_server.url, c.names, skip_middlewares=False)
    entered, release = asyncio.Event(), asyncio.Event()

    async def gate(socket: Any) -> None:
        if socket.recovered:
            entered.set()
            await release.wait()

    m.use(gate)
    try:
        await m.listen("127.0.0.1", 0)
        await wait_servers(redis_server.url, c.names.channel, 4)
        client, pid, offset = await c.joined_client("a")
        sid = client.sid
        assert sid is not None
        await client.close_transport()
        await until(lambda: sid not in c.a.sockets.sockets)
        ids = await broadcast_meanwhile(c, sid, offset)

        await c.driver.command("reconnect", name=client.name, url=url_of(m))
        await asyncio.wait_for(entered.wait(), WAIT)
        c.b.to("r").emit("during-middleware")
        (during,) = await until_async(lambda: c.entries_after(ids[-1]), lambda ids: len(ids) == 1)
        release.set()
        connect = await asyncio.wait_for(client.connects.get(), WAIT)
        assert connect["sid"] == sid and connect["recovered"] is True
        m_ids = [*ids, during]
        events = [await asyncio.wait_for(client.events.get(), WAIT) for _ in range(5)]
        assert [args[-1] for _, args in events] == [
            i for i in m_ids if i in {a[-1] for _, a in events}
        ]
        assert sorted(event for event, _ in events) == sorted(
            ["from-b", "from-node", "to-its-own-room", "from-a-to-all", "during-middleware"]
        )
        assert events[-1][0] == "during-middleware"
        m.to("r").emit("new")
        assert (await asyncio.wait_for(client.events.get(), WAIT))[0] == "new"
        assert client.events.empty()
        (socket,) = m.sockets.sockets.values()
        assert socket.rooms == {sid, "r"} and socket.data == {"server": "a"}
        await assert_live_session(c, pid, sid, {"server": "a"})
    finally:
        await m.close()


async def test_a_socket_recovers_again_after_recovering(cluster: Cluster) -> None:
    """a -> b -> node -> a: each server gives the session back and keeps it for the next drop."""
    c = cluster
    client, pid, offset = await c.joined_client("a")
    sid = client.sid
    assert sid is not None
    for origin, target in (("a", "b"), ("b", "node"), ("node", "a")):
        await client.close_transport()
        if origin == "node":
            await until_async(lambda: c.redis.exists(c.session_key(pid)), bool)
        else:
            io: Server = getattr(c, origin)
            await until(lambda io=io: sid not in io.sockets.sockets)  # type: ignore[misc]
        c.b.to("r").emit("away", origin)
        # in the stream before the client is back: a Node server could otherwise send it
        # twice or not at all (its adapter's race when an event comes during the restore)
        (away,) = await until_async(
            lambda since=offset: c.entries_after(since), lambda ids: len(ids) == 1
        )
        connect = await c.reconnect(client, target)
        assert connect["sid"] == sid and connect["recovered"] is True, (origin, target)
        event, args = await asyncio.wait_for(client.events.get(), WAIT)
        assert [event, *args] == ["away", origin, away]
        offset = away
        assert client.events.empty()
    await assert_socket_on(c, "a", sid, {"server": "a"})


@pytest.mark.parametrize("target", ["a", "b"])
async def test_events_sent_while_the_client_comes_back_arrive_once_in_order(
    cluster: Cluster, target: str
) -> None:
    """Server b emits a numbered event every millisecond or so while the client comes back (to
    b itself, or to a): each arrives once, in order, whether the restore or the live stream
    brings it. (A Node server is not held to it: its adapter can deliver an event both ways,
    or neither, when it comes as the session is restored; seen here: 73, 73.)"""
    c = cluster
    client, _, _ = await c.joined_client("a")
    sid = client.sid
    await client.close_transport()
    await until(lambda: sid not in c.a.sockets.sockets)
    sent = 0
    stop = asyncio.Event()

    async def pump() -> None:
        nonlocal sent
        while not stop.is_set():
            c.b.to("r").emit("n", sent)
            sent += 1
            await asyncio.sleep(0.001)  # the pace of the emits, not a synchronisation

    task = asyncio.get_running_loop().create_task(pump())
    try:
        await until(lambda: sent >= 50)
        connect = await c.reconnect(client, target)
        assert connect["sid"] == sid and connect["recovered"] is True
        mark = sent
        await until(lambda: sent >= mark + 50)
    finally:
        stop.set()
        await task
    got: list[int] = []
    while len(got) < sent:
        event, args = await asyncio.wait_for(client.events.get(), WAIT)
        assert event == "n"
        got.append(args[0])
        assert got == list(range(len(got))), got[-5:]
