"""The chat through real python-socketio clients: rooms, relay, acks, invalid payloads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .conftest import ChatClient
from .tokens import user_token

OK = {"status": "ok"}


async def connected(
    make: Callable[[], ChatClient], url: str, user_id: str, name: str
) -> ChatClient:
    client = make()
    await client.connect(url, user_token(user_id, name))
    return client


async def test_two_users_chat_in_a_room_and_a_third_hears_nothing(
    chat_url: str, clients: Callable[[], ChatClient]
) -> None:
    ann = await connected(clients, chat_url, "1", "Ann")
    bob = await connected(clients, chat_url, "2", "Bob")
    cat = await connected(clients, chat_url, "3", "Cat")
    assert await ann.call("join", "lobby") == OK
    assert await bob.call("join", "lobby") == OK

    assert await ann.call("message", {"message": "hi Bob", "roomName": "lobby"}) == OK
    assert await bob.next_message() == {"name": "Ann", "id": "1", "message": "hi Bob"}

    # Ann's next message is Bob's reply: her own "hi Bob" never came back to her.
    assert await bob.call("message", {"message": "hi Ann", "roomName": "lobby"}) == OK
    assert await ann.next_message() == {"name": "Bob", "id": "2", "message": "hi Ann"}

    # Cat was in no room with them: the first thing she gets is sent to a room she joins later.
    assert await cat.call("join", "kitchen") == OK
    assert await ann.call("join", "kitchen") == OK
    assert await ann.call("message", {"message": "psst", "roomName": "kitchen"}) == OK
    assert await cat.next_message() == {"name": "Ann", "id": "1", "message": "psst"}
    assert cat.messages.empty() and ann.messages.empty() and bob.messages.empty()


async def test_leave_stops_the_messages(chat_url: str, clients: Callable[[], ChatClient]) -> None:
    ann = await connected(clients, chat_url, "1", "Ann")
    bob = await connected(clients, chat_url, "2", "Bob")
    for client in (ann, bob):
        assert await client.call("join", "lobby") == OK
        assert await client.call("join", "markers") == OK
    assert await bob.call("leave", "lobby") == OK
    assert await bob.call("leave", "never-joined") == OK
    assert await ann.call("message", {"message": "anyone?", "roomName": "lobby"}) == OK
    assert await ann.call("message", {"message": "marker", "roomName": "markers"}) == OK
    assert (await bob.next_message())["message"] == "marker"
    # Bob can no longer send to the room he left.
    answer = await bob.call("message", {"message": "back?", "roomName": "lobby"})
    assert answer["status"] == "error"


def too_long() -> dict[str, Any]:
    return {"message": "x" * 10_001, "roomName": "lobby"}


@pytest.mark.parametrize(
    "payload",
    [
        {"roomName": "lobby"},
        {"message": 42, "roomName": "lobby"},
        {"message": None, "roomName": "lobby"},
        {"message": "hi"},
        {"message": "hi", "roomName": ["lobby"]},
        {"message": "hi", "roomName": "elsewhere"},
        too_long(),
        ["hi", "lobby"],
        "hi",
    ],
)
async def test_invalid_message_gets_an_error_and_sends_nothing(
    chat_url: str, clients: Callable[[], ChatClient], payload: Any
) -> None:
    ann = await connected(clients, chat_url, "1", "Ann")
    bob = await connected(clients, chat_url, "2", "Bob")
    for client in (ann, bob):
        assert await client.call("join", "lobby") == OK
    answer = await ann.call("message", payload)
    assert answer["status"] == "error"
    assert isinstance(answer["error"], str) and answer["error"]
    assert set(answer) == {"status", "error"}
    assert await ann.call("message", {"message": "marker", "roomName": "lobby"}) == OK
    assert (await bob.next_message())["message"] == "marker"


async def test_longest_message_is_relayed(chat_url: str, clients: Callable[[], ChatClient]) -> None:
    ann = await connected(clients, chat_url, "1", "Ann")
    bob = await connected(clients, chat_url, "2", "Bob")
    for client in (ann, bob):
        assert await client.call("join", "lobby") == OK
    text = "é" * 10_000
    assert await ann.call("message", {"message": text, "roomName": "lobby"}) == OK
    assert (await bob.next_message())["message"] == text


@pytest.mark.parametrize("room", [5, None, "", "r" * 201])
async def test_invalid_room_names(
    chat_url: str, clients: Callable[[], ChatClient], room: Any
) -> None:
    ann = await connected(clients, chat_url, "1", "Ann")
    for event in ("join", "leave"):
        answer = await ann.call(event, room)
        assert answer["status"] == "error"


FORBIDDEN = {"status": "error", "error": "forbidden room"}


async def test_nobody_joins_another_users_room_or_another_sockets_room(
    chat_url: str, clients: Callable[[], ChatClient]
) -> None:
    ann = await connected(clients, chat_url, "1", "Ann")
    bob = await connected(clients, chat_url, "2", "Bob")
    ann_too = await connected(clients, chat_url, "1", "Ann")  # Ann's second tab
    assert await ann.call("join", "2") == FORBIDDEN
    assert await ann.call("join", bob.sio.get_sid()) == FORBIDDEN
    assert await ann.call("join", ann_too.sio.get_sid()) == FORBIDDEN
    # Her own rooms are hers: already in them, joining again is fine.
    assert await ann.call("join", "1") == OK
    assert await ann.call("join", ann.sio.get_sid()) == OK
    # A room that was nobody's when Eve joined it is taken from her when its user arrives.
    eve = await connected(clients, chat_url, "6", "Eve")
    assert await eve.call("join", "9") == OK
    dan = await connected(clients, chat_url, "9", "Dan")
    assert await eve.call("join", "9") == FORBIDDEN
    answer = await eve.call("message", {"message": "boo", "roomName": "9"})
    assert answer == {"status": "error", "error": "join the room before sending to it"}
    assert await dan.call("join", "lobby") == OK
    assert await bob.call("join", "lobby") == OK
    assert await bob.call("message", {"message": "hi Dan", "roomName": "lobby"}) == OK
    assert (await dan.next_message())["message"] == "hi Dan"
    assert ann.messages.empty() and eve.messages.empty()
