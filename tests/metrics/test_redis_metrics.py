"""Redis publish failures and subscriber reconnects in /metrics, with Redis stopped and started
under a serving roomcast server."""

from __future__ import annotations

import asyncio

from roomcast.metrics import Metrics
from roomcast.rooms.redis import redis_adapter
from roomcast.socketio.server import Server
from tests.conftest import free_port
from tests.redis.conftest import RedisServer, wait_servers
from tests.waiting import until_async

from .test_metrics import Samples, scrape, value


async def test_publish_failures_and_reconnects_are_counted(port: int) -> None:
    redis = RedisServer(free_port())
    await asyncio.to_thread(redis.start)
    io = Server(adapter=redis_adapter(redis.url))
    Metrics(io).route()
    url = f"http://127.0.0.1:{port}"
    try:
        await io.listen("127.0.0.1", port)
        await wait_servers(redis.url, "socket.io-request#/#", 1)
        before = await scrape(url)
        assert value(before, "roomcast_redis_publish_failures_total") == 0
        assert value(before, "roomcast_redis_reconnects_total") == 0

        await asyncio.to_thread(redis.stop)

        def failed(samples: Samples) -> bool:
            io.emit("during")  # each broadcast is also published: it cannot be now
            return value(samples, "roomcast_redis_publish_failures_total") > 0

        await until_async(lambda: scrape(url), failed)
        await asyncio.to_thread(redis.start)
        await wait_servers(redis.url, "socket.io-request#/#", 1)
        await until_async(
            lambda: scrape(url), lambda s: value(s, "roomcast_redis_reconnects_total") >= 1
        )
    finally:
        await io.close()
        await asyncio.to_thread(redis.stop)
