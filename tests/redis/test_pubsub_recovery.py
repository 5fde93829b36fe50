"""Connection state recovery with the pub/sub Redis adapter: sessions and missed events are kept
in the memory of the server the client left, so it recovers there only (broadcasts from the
other servers included); on another server it gets a new socket. (Node's
``@socket.io/redis-adapter`` does not recover at all.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from roomcast.rooms.redis import redis_adapter
from roomcast.socketio.recovery import RecoveryOptions
from roomcast.socketio.server import Server
from tests.socketio.conftest import NodeClient, NodeDriver, url_of

from .conftest import WAIT, RedisServer, setup_app, until, wait_servers


@pytest.fixture
async def pair(redis_server: RedisServer, key: str) -> AsyncIterator[tuple[Server, Server]]:
    made = [
        setup_app(
            Server(
                adapter=redis_adapter(redis_server.url, key=key),
                connection_state_recovery=RecoveryOptions(max_disconnection_duration=60.0),
            ),
            name,
        )
        for name in "ab"
    ]
    try:
        for io in made:
            await io.listen("127.0.0.1", 0)
        await wait_servers(redis_server.url, f"{key}-request#/#", 2)
        yield made[0], made[1]
    finally:
        for io in made:
            await io.close()


@pytest.mark.parametrize("back_to", ["a", "b"])
async def test_a_client_recovers_only_on_the_server_it_left(
    pair: tuple[Server, Server], node: str, back_to: str
) -> None:
    a, b = pair
    driver = await NodeDriver.start(node)
    try:
        client = NodeClient(driver, ["websocket"])
        await client.connect(url_of(a))
        assert await client.call("join", "r") == ["joined"]
        b.to("r").emit("first")
        await client.next_event("first")
        sid = client.sid
        await client.close_transport()
        await until(lambda: sid not in a.sockets.sockets)
        b.to("r").emit("meanwhile", 1)
        await driver.command("reconnect", name=client.name, url=url_of(a if back_to == "a" else b))
        connect = await asyncio.wait_for(client.connects.get(), WAIT)
        if back_to == "a":
            assert connect["sid"] == sid and connect["recovered"] is True
            event, args = await asyncio.wait_for(client.events.get(), WAIT)
            assert [event, *args[:-1]] == ["meanwhile", 1]
        else:
            assert connect["sid"] != sid and connect["recovered"] is False
        b.to("r").emit("after")
        if back_to == "a":
            assert (await asyncio.wait_for(client.events.get(), WAIT))[0] == "after"
        assert client.events.empty()
    finally:
        await driver.close()
