"""Many clients recovering at once through the Redis Streams adapter (a server restart: every
client of the stopped server reconnects to another at the same moment). Each restore takes a
Redis connection from the client's pool for its reads; more restores at once than the pool
has connections must wait for one, not fail (a failed restore gives the client a new socket
and loses the messages it missed). bench/recovery.py measures it at 1,000 clients."""

from __future__ import annotations

import asyncio

import redis.asyncio

from roomcast.rooms.adapter import PersistedSession
from roomcast.rooms.redis_streams import RedisStreamsAdapter, redis_streams_adapter
from roomcast.socketio.server import Server
from tests.waiting import until_async

from .conftest import Names, RedisServer, setup_app, wait_servers

POOL = 6
CLIENTS = 40


async def test_more_restores_at_once_than_pooled_connections_all_succeed(
    redis_server: RedisServer, names: Names
) -> None:
    pooled = redis.asyncio.Redis.from_url(redis_server.url, max_connections=POOL)
    io = setup_app(Server(adapter=redis_streams_adapter(pooled, **names.python)), "py")
    io.sockets.recovery_window = 60.0
    plain = redis.asyncio.Redis.from_url(redis_server.url)
    stream = names.python["stream_name"]
    try:
        await io.listen("127.0.0.1", 0)
        await wait_servers(redis_server.url, names.channel, 1)
        adapter = io.sockets.adapter
        assert isinstance(adapter, RedisStreamsAdapter)
        io.to("r").emit("before")
        [(offset, _)] = await until_async(lambda: plain.xrange(stream), lambda e: len(e) == 1)
        for i in range(CLIENTS):
            adapter.persist_session(PersistedSession(f"sid{i}", f"pid{i}", [f"sid{i}", "r"], {}))
        io.to("r").emit("missed", 1)
        await until_async(lambda: plain.dbsize(), lambda n: n >= CLIENTS + 1)
        await until_async(lambda: plain.xlen(stream), lambda n: n == 2)

        restored = await asyncio.gather(
            *(adapter.restore_session(f"pid{i}", offset.decode()) for i in range(CLIENTS)),
            return_exceptions=True,
        )

        failed = [r for r in restored if not hasattr(r, "missed_packets")]
        assert failed == []
        assert sorted(r.sid for r in restored) == sorted(f"sid{i}" for i in range(CLIENTS))  # type: ignore[union-attr]
        assert {tuple(r.missed_packets[0][:-1]) for r in restored} == {("missed", 1)}  # type: ignore[union-attr]
    finally:
        await io.close()
        await plain.aclose()
        await pooled.aclose()
