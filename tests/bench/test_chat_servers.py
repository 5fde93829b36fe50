"""The chat the benchmark runs on every server (bench/servers/*_chat.*, and ``roomcast serve``)
behaves as the seed chat does, so that the chat scenarios compare the same app: a JWT at the
handshake, join acked, a message relayed to the others in the room and acked, errors acked."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from bench.suite import ROOT, SERVERS, stop, wait_for_port
from tests.chat.conftest import ChatClient
from tests.chat.tokens import SECRET, user_token

OK = {"status": "ok"}


CHAT_SERVERS = [name for name, spec in SERVERS.items() if spec.chat_argv and not spec.variant]
"""The servers that run the chat in the bench (the ASGI ones and variants do not)."""


@pytest.fixture(params=CHAT_SERVERS)
def chat_url(request: pytest.FixtureRequest, port: int, node: str) -> Iterator[str]:
    """A chat server of the benchmark (each target in turn) checking tokens with ``SECRET``."""
    server = subprocess.Popen(
        SERVERS[request.param].command(port, chat=True),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        env={**os.environ, "ROOMCAST_JWT_SECRET": SECRET},
    )
    try:
        wait_for_port(port, server)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(server, timeout=10)


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


async def test_the_same_chat_on_every_server(
    chat_url: str, clients: Callable[[], ChatClient]
) -> None:
    websocket = {"transports": ["websocket"]}  # the bare relay speaks WebSocket only, as the bench
    assert await clients().refusal(chat_url, None, **websocket) == "missing token"
    wrong = user_token("1", "Ann", secret=SECRET + "-not-it")
    assert await clients().refusal(chat_url, wrong, **websocket)

    ann, bob = clients(), clients()
    await ann.connect(chat_url, user_token("1", "Ann"), **websocket)
    await bob.connect(chat_url, user_token("2", "Bob"), **websocket)
    assert await ann.call("join", "lobby") == OK
    assert await bob.call("join", "lobby") == OK
    assert await ann.call("message", {"message": "hi Bob", "roomName": "lobby"}) == OK
    assert await bob.next_message() == {"name": "Ann", "id": "1", "message": "hi Bob"}
    # Ann's next message is Bob's reply: her own "hi Bob" never came back to her.
    assert await bob.call("message", {"message": "hi Ann", "roomName": "lobby"}) == OK
    assert await ann.next_message() == {"name": "Bob", "id": "2", "message": "hi Ann"}

    assert await ann.call("message", {"message": "hi", "roomName": "elsewhere"}) == {
        "status": "error",
        "error": "join the room before sending to it",
    }
    assert (await ann.call("message", "hi"))["status"] == "error"
    assert await bob.call("leave", "lobby") == OK
    assert await bob.call("message", {"message": "back?", "roomName": "lobby"}) == {
        "status": "error",
        "error": "join the room before sending to it",
    }
