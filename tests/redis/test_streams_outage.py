"""Redis stopped and restarted under two roomcast servers with the Redis Streams adapter and
connection state recovery on (so local deliveries wait for Redis to append each broadcast)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from roomcast.rooms.redis_streams import StreamsLink, redis_streams_adapter
from roomcast.socketio.recovery import RecoveryOptions
from roomcast.socketio.server import Server
from tests.socketio.conftest import PyClient, url_of

from .conftest import RedisServer, setup_app, until, wait_servers
from .test_outage import own_redis  # noqa: F401 - the fixture

__all__: list[str] = []


async def test_outage_keeps_local_delivery_in_order_and_the_stream_resumes(
    own_redis: RedisServer,  # noqa: F811 - the fixture
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="roomcast.redis")
    recovery = RecoveryOptions(max_disconnection_duration=60.0)
    a = setup_app(
        Server(adapter=redis_streams_adapter(own_redis.url), connection_state_recovery=recovery),
        "a",
    )
    b = setup_app(
        Server(adapter=redis_streams_adapter(own_redis.url), connection_state_recovery=recovery),
        "b",
    )
    clients: list[PyClient] = []
    try:
        for io in (a, b):
            await io.listen("127.0.0.1", 0)
        await wait_servers(own_redis.url, "socket.io#/#", 2)
        for io in (a, b):
            client = PyClient(["websocket"])
            await client.connect(url_of(io))
            assert await client.call("join", "r") == ["joined"]
            clients.append(client)
        a1, b1 = clients
        a.to("r").emit("before")
        (offset,) = await a1.next_event("before")
        assert await b1.next_event("before") == [offset]

        await asyncio.to_thread(own_redis.stop)
        for i in range(20):
            a.to("r").emit("during", i)
        b.to("r").emit("b-during")
        for i in range(20):  # local delivery goes on, in order, without offsets
            assert await a1.next_event("during") == [i]
        assert await b1.next_event("b-during") == []
        await until(lambda: any("could not publish" in r.message for r in caplog.records))

        await asyncio.to_thread(own_redis.start)
        await wait_servers(own_redis.url, "socket.io#/#", 2)  # both resubscribed
        a.to("r").emit("after")
        (after,) = await b1.next_event("after")  # the reader reads the stream again
        assert isinstance(after, str) and after > offset
        b.to("r").emit("after-b")
        assert len(await a1.next_event("after-b")) == 1
    finally:
        for client in clients:
            if client.sio.connected:
                await client.disconnect()
        await a.close()
        await b.close()


async def test_a_url_clients_stream_reads_block_less_than_its_socket_timeout(
    redis_server: RedisServer,
) -> None:
    """A client made from a URL has redis-py's default socket timeout (5 s in redis-py 8): a
    read blocking as long would time out each time the stream is quiet that long (a warning
    and a reconnection every 5 s)."""
    link = StreamsLink(redis_server.url)
    try:
        pool = link.redis.client.connection_pool
        timeout = pool.connection_class(**pool.connection_kwargs).socket_timeout
        if timeout is not None:
            assert link.block_ms < timeout * 1000
    finally:
        await link.redis.close()
