"""The Redis link's publish queue across a Redis restart: kept in order, bounded, never resent
when Redis may have published it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest

from roomcast.rooms import redis_link
from roomcast.rooms.redis_link import RedisLink
from tests.conftest import free_port
from tests.waiting import until_async

from .conftest import RedisServer, numsub, until


@pytest.fixture
async def own_redis() -> AsyncIterator[RedisServer]:
    """A redis-server of this test's own (it gets stopped)."""
    server = RedisServer(free_port())
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


async def test_what_is_published_during_an_outage_is_sent_in_order_and_the_queue_stays_bounded(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="roomcast.redis")
    link = RedisLink(own_redis.url)
    got: list[bytes] = []
    try:
        assert await link.subscribe({"c": lambda _, message: got.append(message)}, {}, 5)
        link.publish("c", b"first")
        await until(lambda: got == [b"first"])

        await asyncio.to_thread(own_redis.stop)
        limit = redis_link.MAX_QUEUE
        for i in range(100):
            link.publish("c", b"%d" % i)
        await until(lambda: any("could not publish" in r.message for r in caplog.records))
        for i in range(100, limit + 100):  # 100 too many: the 100 oldest go
            link.publish("c", b"%d" % i)
        assert len(link._queue) == limit

        await asyncio.to_thread(own_redis.start)
        await until(lambda: len(got) == limit + 1)
        assert got == [b"first", *(b"%d" % i for i in range(100, limit + 100))]
        assert link.dropped == 100
        assert any("queue full" in r.message for r in caplog.records)
        await until(lambda: any("works again" in r.message for r in caplog.records))
        again = [r.message for r in caplog.records if "works again" in r.message]
        assert again == [
            "Redis publishing works again; during the outage 100 messages were dropped "
            "(queue full) and 0 were lost in transit (not resent)"
        ]
    finally:
        await link.close()


class ReplyEater:
    """A TCP proxy to Redis that, once, lets a PUBLISH through and closes the connection
    instead of passing Redis's reply back: the publish happened, its answer was lost."""

    def __init__(self, redis_port: int) -> None:
        self.redis_port = redis_port
        self.port = 0
        self.eaten = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.redis_port)
        eat = asyncio.Event()

        async def upstream() -> None:
            while data := await reader.read(65536):
                if b"PUBLISH" in data and not self.eaten.is_set():
                    eat.set()
                up_writer.write(data)
                await up_writer.drain()
            up_writer.close()

        async def downstream() -> None:
            while data := await up_reader.read(65536):
                if eat.is_set() and not self.eaten.is_set():
                    self.eaten.set()  # Redis answered: the publish is done; the answer is not
                    break
                writer.write(data)
                await writer.drain()
            writer.close()
            up_writer.close()

        with contextlib.suppress(OSError):
            await asyncio.gather(upstream(), downstream())


async def test_a_publish_whose_reply_was_lost_is_not_sent_twice(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="roomcast.redis")
    proxy = ReplyEater(own_redis.port)
    await proxy.start()
    link = RedisLink(f"redis://127.0.0.1:{proxy.port}/0")
    got: list[bytes] = []
    try:
        assert await link.subscribe({"c": lambda _, message: got.append(message)}, {}, 5)
        link.publish("c", b"once")
        await asyncio.wait_for(proxy.eaten.wait(), 5)
        link.publish("c", b"next")
        await until(lambda: b"next" in got)
        assert got == [b"once", b"next"]
        assert link.unconfirmed == 1
        assert any("could not publish 1 Redis messages" in r.message for r in caplog.records)
    finally:
        await link.close()
        await proxy.close()


async def test_the_first_publish_after_a_restart_is_not_written_on_the_dead_connection(
    own_redis: RedisServer,
) -> None:
    publisher = RedisLink(own_redis.url)  # subscribes to nothing: nothing holds its queue
    receiver = RedisLink(own_redis.url)
    got: list[bytes] = []
    try:
        assert await receiver.subscribe({"c": lambda _, message: got.append(message)}, {}, 5)
        publisher.publish("c", b"before")
        await until(lambda: got == [b"before"])
        await asyncio.to_thread(own_redis.stop)
        await asyncio.to_thread(own_redis.start)
        await until_async(lambda: numsub(own_redis.url, "c"), lambda n: n == 1)
        # The publisher's pooled connection was closed by the old redis-server: writing on it
        # would lose the message with no way to know whether Redis got it.
        publisher.publish("c", b"after")
        await until(lambda: got == [b"before", b"after"])
        assert publisher.unconfirmed == 0
    finally:
        await publisher.close()
        await receiver.close()
