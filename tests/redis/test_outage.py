"""Redis stopped and restarted under two serving roomcast servers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from roomcast.rooms.redis import redis_adapter
from roomcast.socketio.server import Server
from tests.conftest import free_port
from tests.socketio.conftest import PyClient, url_of

from .conftest import WAIT, RedisServer, setup_app, until, wait_servers


async def events(client: PyClient, count: int) -> list[tuple[str, list[Any]]]:
    """The next ``count`` events of ``client``, with their names."""
    return [await asyncio.wait_for(client.events.get(), WAIT) for _ in range(count)]


@pytest.fixture
async def own_redis() -> AsyncIterator[RedisServer]:
    """A redis-server of this test's own (it gets stopped)."""
    server = RedisServer(free_port())
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


async def test_outage_keeps_local_delivery_and_cross_server_delivery_resumes(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="roomcast.redis")
    a = setup_app(Server(adapter=redis_adapter(own_redis.url)), "a")
    b = setup_app(Server(adapter=redis_adapter(own_redis.url)), "b")
    clients: list[PyClient] = []
    try:
        await a.listen("127.0.0.1", 0)
        await b.listen("127.0.0.1", 0)
        await wait_servers(own_redis.url, "socket.io-request#/#", 2)
        for io in (a, b):
            client = PyClient(["websocket"])
            await client.connect(url_of(io))
            assert await client.call("join", "r") == ["joined"]
            clients.append(client)
        a1, b1 = clients
        a.to("r").emit("before")
        assert await a1.next_event() == await b1.next_event() == []

        await asyncio.to_thread(own_redis.stop)
        for i in range(20):
            a.to("r").emit("during", i)
        b.to("r").emit("b-during")
        for i in range(20):
            assert await a1.next_event("during") == [i]  # local delivery goes on
        assert await b1.next_event("b-during") == []
        assert [s.id for s in await a.fetch_sockets()] == [a1.sid]  # only this server's
        late = PyClient(["websocket"])  # the server still accepts connections
        clients.append(late)
        await late.connect(url_of(a))
        a.emit("hello-late")
        assert await late.next_event("hello-late") == []
        await until(lambda: any("could not publish" in r.message for r in caplog.records))

        await asyncio.to_thread(own_redis.start)
        await wait_servers(own_redis.url, "socket.io-request#/#", 2)  # both resubscribed
        a.to("r").emit("after")
        # what was emitted while Redis was down comes first, in order, once
        during = [("during", [i]) for i in range(20)]
        assert await events(b1, 22) == [*during, ("hello-late", []), ("after", [])]
        b.to("r").emit("after-b")
        got = await events(a1, 4)  # a's own "hello-late" and "after" came at once
        assert [e for e in got if e[0] in ("b-during", "after-b")] == [
            ("b-during", []),
            ("after-b", []),
        ]
        assert sorted(e[0] for e in got) == ["after", "after-b", "b-during", "hello-late"]
    finally:
        for client in clients:
            if client.sio.connected:
                await client.disconnect()
        await a.close()
        await b.close()


async def test_servers_start_without_redis_and_join_the_cluster_when_it_comes(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="roomcast.redis")
    await asyncio.to_thread(own_redis.stop)
    a = setup_app(Server(adapter=redis_adapter(own_redis.url)), "a")
    b = setup_app(Server(adapter=redis_adapter(own_redis.url)), "b")
    clients: list[PyClient] = []
    try:
        await asyncio.wait_for(a.listen("127.0.0.1", 0), 2)  # does not wait for Redis
        await asyncio.wait_for(b.listen("127.0.0.1", 0), 2)
        assert any("did not confirm" in r.message for r in caplog.records)
        for io in (a, b):
            client = PyClient(["websocket"])
            await client.connect(url_of(io))
            assert await client.call("join", "r") == ["joined"]
            clients.append(client)
        a1, b1 = clients
        a.to("r").emit("local")
        assert await a1.next_event("local") == []
        await a1.reply("ask", "a1 here")
        assert await a.timeout(2).to("r").emit_with_ack("ask") == ["a1 here"]

        await asyncio.to_thread(own_redis.start)
        await wait_servers(own_redis.url, "socket.io-request#/#", 2)
        a.to("r").emit("together")
        assert await b1.next_event("together") == []
    finally:
        for client in clients:
            if client.sio.connected:
                await client.disconnect()
        await a.close()
        await b.close()
