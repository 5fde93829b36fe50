"""The chat's room rules hold across servers sharing rooms through Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from roomcast.apps.chat import create_app
from roomcast.rooms.redis import redis_adapter
from roomcast.socketio.server import Server
from tests.chat.conftest import ChatClient
from tests.chat.tokens import SECRET, user_token
from tests.waiting import until

from .conftest import RedisServer

FORBIDDEN = {"status": "error", "error": "forbidden room"}
OK = {"status": "ok"}


@pytest.fixture
async def chats(
    redis_server: RedisServer, key: str
) -> AsyncIterator[Callable[[], Awaitable[Server]]]:
    """``await chats()`` -> a chat server with the Redis adapter, on a free port."""
    made: list[Server] = []

    async def make() -> Server:
        io = create_app(jwt_secret=SECRET, adapter=redis_adapter(redis_server.url, key=key))
        await io.listen("127.0.0.1", 0)
        made.append(io)
        return io

    try:
        yield make
    finally:
        for io in made:
            await io.close()


@pytest.fixture
async def clients() -> AsyncIterator[Callable[[], ChatClient]]:
    made: list[ChatClient] = []

    def make() -> ChatClient:
        made.append(ChatClient())
        return made[-1]

    yield make
    for client in made:
        if client.sio.connected:
            await client.sio.disconnect()


async def test_rooms_of_users_and_sockets_on_another_server_are_forbidden(
    chats: Callable[[], Awaitable[Server]], clients: Callable[[], ChatClient]
) -> None:
    one, two = await chats(), await chats()
    url_one = f"http://127.0.0.1:{one.listener.port}"
    url_two = f"http://127.0.0.1:{two.listener.port}"
    ann, bob, eve = clients(), clients(), clients()
    await ann.connect(url_one, user_token("1", "Ann"))
    await bob.connect(url_two, user_token("2", "Bob"))
    await eve.connect(url_one, user_token("6", "Eve"))
    assert await ann.call("join", "2") == FORBIDDEN
    assert await ann.call("join", bob.sio.get_sid()) == FORBIDDEN
    assert await ann.call("join", "lobby") == OK

    # Eve takes the room of a user nobody has seen yet; it is taken back when he connects on
    # the other server.
    assert await eve.call("join", "9") == OK
    eve_sid = eve.sio.get_sid()
    assert "9" in one.of("/").adapter.socket_rooms(eve_sid)
    dan = clients()
    await dan.connect(url_two, user_token("9", "Dan"))
    await until(lambda: "9" not in one.of("/").adapter.socket_rooms(eve_sid))
    assert await eve.call("join", "9") == FORBIDDEN
