"""A Redis restart under load, every delivery accounted for: shared by tests/redis/test_chaos.py
(small) and bench/redis_outage.py (200 clients in 20 rooms).

Two roomcast servers share one ``redis-server``. Each client is in one room, connected to one of
the servers; both servers emit, paced, to the rooms in turn (``io.to(room).emit("m", server,
seq)``), so every message goes to the clients of its own server directly and to the other
server's through Redis. Halfway the redis-server process is stopped and, after a given number of
emits, started again on the same port. Then every client's messages are checked: each one
expected, once, in its server's order.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import socketio

from roomcast.rooms.redis import RedisAdapter, redis_adapter
from roomcast.rooms.redis_link import RedisLink
from roomcast.socketio.server import Server
from tests.waiting import until_async

from .conftest import RedisServer, numsub, setup_app, until, wait_servers

__all__ = ["ChaosResult", "run_chaos"]

SERVERS = ("a", "b")
REQUESTS = "socket.io-request#/#"
"""The channel every server subscribes to."""


@dataclass
class ChaosResult:
    """What the clients got, against what they should have got."""

    expected: int = 0
    """Deliveries expected: every message to every client of its room."""
    delivered: int = 0
    """Expected deliveries that arrived (once each)."""
    duplicates: int = 0
    """Deliveries of a message a client already had."""
    out_of_order: int = 0
    """Deliveries that came after a later message of the same server."""
    lost_messages: dict[str, set[int]] = field(default_factory=dict)
    """Per sending server, the messages some client of the *other* server did not get."""
    unconfirmed: dict[str, int] = field(default_factory=dict)
    """Per server, what its Redis link reported as written but not confirmed (not resent)."""
    dropped: dict[str, int] = field(default_factory=dict)
    """Per server, what its Redis link dropped because the queue was full."""

    @property
    def lost(self) -> int:
        """Deliveries that never arrived."""
        return self.expected - self.delivered


class _Client:
    def __init__(self, room: str, server: str) -> None:
        self.room = room
        self.server = server
        self.got: list[tuple[str, int]] = []
        self.sio = socketio.AsyncClient(reconnection=False)
        self.sio.on("m", self._on_m)

    def _on_m(self, server: str, seq: int) -> None:
        self.got.append((server, seq))


class Gate:
    """A TCP forwarder to Redis that can be shut: while it is, connections through it are
    closed at once (the server behind it cannot reach Redis, the others can)."""

    def __init__(self, redis_port: int) -> None:
        self.redis_port = redis_port
        self.shut = False
        self.url = ""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"redis://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/0"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.shut:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.redis_port)
        except OSError:
            writer.close()
            return

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        tasks = [
            asyncio.ensure_future(pump(reader, up_writer)),
            asyncio.ensure_future(pump(up_reader, writer)),
        ]
        self._tasks.update(tasks)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks)
        self._tasks.difference_update(tasks)


def _link(io: Server) -> RedisLink:
    adapter = io.of("/").adapter
    assert isinstance(adapter, RedisAdapter)
    return adapter.link


def _link_stat(io: Server, name: str) -> int:
    """A counter of the server's Redis link (0 where it has none: the bench's "before" runs
    the code before the counters)."""
    return int(getattr(_link(io), name, 0))


async def run_chaos(
    redis_server: RedisServer,
    *,
    clients: int,
    rooms: int,
    rate: float,
    before: int,
    during: int,
    after: int,
    settle: float = 10.0,
    late: int = 0,
    quiet_stop: bool = False,
) -> ChaosResult:
    """Run the scenario: each server emits ``before`` messages, then Redis is stopped, each
    emits ``during`` more, Redis starts again and each emits ``after`` more; ``rate`` is each
    server's emits per second. Waits up to ``settle`` seconds for the last deliveries.

    With ``late``, the second server reaches Redis through a :class:`Gate` that stays shut until
    ``late`` emits after the first server subscribed again: it surely comes back after it.

    With ``quiet_stop``, Redis is stopped once both servers have published everything so far:
    no batch is on the wire as it goes (one that is may be lost, by design: at most once)."""
    gate = Gate(redis_server.port)
    await gate.start()
    urls = {name: redis_server.url for name in SERVERS}
    if late:
        urls[SERVERS[1]] = gate.url
    servers = {name: setup_app(Server(adapter=redis_adapter(urls[name])), name) for name in SERVERS}
    made: list[_Client] = []
    try:
        for io in servers.values():
            await io.listen("127.0.0.1", 0)
        await wait_servers(redis_server.url, REQUESTS, len(SERVERS))
        for i in range(clients):
            client = _Client(f"room{i % rooms}", SERVERS[(i // rooms) % len(SERVERS)])
            made.append(client)
            port = servers[client.server].listener.port
            await client.sio.connect(
                f"http://127.0.0.1:{port}", transports=["websocket"], wait_timeout=10
            )
            assert await client.sio.call("join", client.room, timeout=10) == "joined"

        total = before + during + after
        loop = asyncio.get_running_loop()
        start = loop.time()
        restarted: asyncio.Future[None] | None = None
        links = list(servers.values())
        late_left = late
        watcher: asyncio.Future[None] | None = None

        async def first_back() -> None:  # the first server subscribed again (b is cut off)
            await until_async(lambda: numsub(redis_server.url, REQUESTS), lambda n: n >= 1)

        for seq in range(total):
            # the pace of the load (on a schedule: a slow turn does not stretch the outage),
            # not a synchronisation
            await asyncio.sleep(max(0.0, start + seq / rate - loop.time()))
            for name, io in servers.items():
                io.to(f"room{seq % rooms}").emit("m", name, seq)
            if seq == before - 1:
                if quiet_stop:  # nothing on the wire as Redis goes: see run_chaos()
                    await until(lambda: all(_link_stat(io, "pending") == 0 for io in links))
                gate.shut = bool(late)
                await asyncio.to_thread(redis_server.stop)
            elif seq == before + during - 1:  # the load goes on while it starts
                restarted = asyncio.ensure_future(asyncio.to_thread(redis_server.start))
            elif gate.shut and restarted is not None and restarted.done():
                if watcher is None:
                    watcher = asyncio.ensure_future(first_back())
                elif watcher.done():
                    late_left -= 1
                    gate.shut = late_left > 0
        if restarted is not None:
            await restarted
        if gate.shut:  # the first server came back after the last emit
            await (watcher or first_back())
            gate.shut = False

        expected = {
            f"room{r}": [(s, seq) for seq in range(total) for s in SERVERS if seq % rooms == r]
            for r in range(rooms)
        }

        def complete() -> bool:
            return all(len(set(c.got)) >= len(expected[c.room]) for c in made)

        with contextlib.suppress(TimeoutError):  # what is lost never comes: count it
            await until(complete, settle)

        result = ChaosResult()
        result.lost_messages = {name: set() for name in SERVERS}
        for c in made:
            want = expected[c.room]
            result.expected += len(want)
            seen: set[tuple[str, int]] = set()
            last: dict[str, int] = {}
            for item in c.got:
                if item in seen:
                    result.duplicates += 1
                    continue
                seen.add(item)
                server, seq = item
                if seq < last.get(server, -1):
                    result.out_of_order += 1
                last[server] = seq
            wanted = set(want)
            result.delivered += len(seen & wanted)
            for server, seq in wanted - seen:
                result.lost_messages[server].add(seq)
        for name, io in servers.items():
            result.unconfirmed[name] = _link_stat(io, "unconfirmed")
            result.dropped[name] = _link_stat(io, "dropped")
        return result
    finally:
        for c in made:
            with contextlib.suppress(Exception):
                await c.sio.disconnect()
        for io in servers.values():
            await io.close()
        await gate.close()


def summary(result: ChaosResult) -> dict[str, Any]:
    """The figures of a run, for a report."""
    return {
        "expected": result.expected,
        "delivered": result.delivered,
        "lost": result.lost,
        "duplicates": result.duplicates,
        "out_of_order": result.out_of_order,
        "unconfirmed": result.unconfirmed,
        "dropped": result.dropped,
    }
