"""Forged and stale tokens against the chat app, end to end: each is refused with its reason,
leaves nothing behind on the server, and a valid user on the same server still chats."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import jwt
import pytest

from roomcast.apps.chat import create_app
from roomcast.socketio.server import Server
from tests.chat.conftest import ChatClient, RsaPair
from tests.chat.test_verify import jwk_of
from tests.chat.tokens import SECRET, b64url, craft, user_token

from .conftest import no_leftovers


def now() -> int:
    return int(time.time())


def tampered(token: str, **claims: Any) -> str:
    """``token`` with its payload rewritten and its signature kept."""
    header, _, signature = token.split(".")
    forged = jwt.decode(token, options={"verify_signature": False}) | claims
    return f"{header}.{b64url(json.dumps(forged).encode())}.{signature}"


@pytest.fixture
async def chat(port: int) -> AsyncIterator[Callable[..., Any]]:
    """``await chat(key, algorithms)``: the chat app on ``port`` checking tokens with ``key``."""
    servers: list[Server] = []

    async def start(key: Any, algorithms: list[str]) -> tuple[Server, str]:
        io = create_app(jwt_secret=key, algorithms=algorithms)
        await io.listen("127.0.0.1", port)
        servers.append(io)
        return io, f"http://127.0.0.1:{port}"

    yield start
    for io in servers:
        await io.close(timeout=1)


async def check(
    io: Server, url: str, clients: Callable[[], ChatClient], attacks: dict[str, str], good: str
) -> None:
    """Each attack is refused with the reason its name starts with (up to a colon)."""
    refusals = {name: await clients().refusal(url, token) for name, token in attacks.items()}
    expected = {name: name.split(":")[0] for name in attacks}
    assert refusals == expected
    await no_leftovers(io)
    alice, bob = clients(), clients()
    await alice.connect(url, good)
    await bob.connect(url, good)
    assert await alice.call("join", "room") == {"status": "ok"}
    assert await bob.call("join", "room") == {"status": "ok"}
    assert await bob.call("message", {"roomName": "room", "message": "hi"}) == {"status": "ok"}
    assert (await alice.next_message())["message"] == "hi"


async def test_hs256_chat(chat: Any, clients: Callable[[], ChatClient]) -> None:
    io, url = await chat(SECRET, ["HS256"])
    valid = user_token("7", "Ann")
    attacks = {
        "jwt expired": user_token(exp=now() - 1),
        "invalid signature:tampered id": tampered(valid, id="1"),
        "invalid signature:tampered exp": tampered(user_token(exp=now() - 60), exp=now() + 3600),
        "invalid algorithm:none": craft({"alg": "none", "typ": "JWT"}, {"id": "1"}),
        "invalid algorithm:none signed": craft({"alg": "none"}, {"id": "1"}, SECRET.encode()),
        "invalid algorithm:HS512": jwt.encode({"id": "1"}, SECRET, algorithm="HS512"),
        "invalid signature:other secret": user_token(secret="x" * 64),
        "jwt malformed": "a.b.c",
    }
    await check(io, url, clients, attacks, valid)


async def test_rs256_chat_refuses_hs_rs_confusion(
    chat: Any, clients: Callable[[], ChatClient], rsa_pair: RsaPair, other_rsa_pair: RsaPair
) -> None:
    io, url = await chat(rsa_pair.public_pem, ["RS256"])
    claims = {"id": "1", "exp": now() + 600}
    valid = jwt.encode({"id": "8", "exp": now() + 600}, rsa_pair.private_pem, algorithm="RS256")
    attacks = {
        "invalid algorithm:HS256 with the public key": craft(
            {"alg": "HS256", "typ": "JWT"}, claims, rsa_pair.public_pem
        ),
        "invalid signature:other key": jwt.encode(
            claims, other_rsa_pair.private_pem, algorithm="RS256"
        ),
        "invalid signature:tampered": tampered(valid, id="1"),
        "jwt expired": jwt.encode(
            {"id": "1", "exp": now() - 5}, rsa_pair.private_pem, algorithm="RS256"
        ),
    }
    await check(io, url, clients, attacks, valid)


async def test_jwks_chat_needs_the_right_kid(
    chat: Any, clients: Callable[[], ChatClient], rsa_pair: RsaPair, other_rsa_pair: RsaPair
) -> None:
    jwks = {"keys": [jwk_of(rsa_pair, "a"), jwk_of(other_rsa_pair, "b")]}
    io, url = await chat(jwks, ["RS256"])
    claims = {"id": "1", "exp": now() + 600}
    key = rsa_pair.private_pem
    valid = jwt.encode(claims | {"id": "9"}, key, algorithm="RS256", headers={"kid": "a"})
    attacks = {
        "invalid signature:no kid": jwt.encode(claims, key, algorithm="RS256"),
        "invalid signature:unknown kid": jwt.encode(
            claims, key, algorithm="RS256", headers={"kid": "z"}
        ),
        "invalid signature:another key's kid": jwt.encode(
            claims, key, algorithm="RS256", headers={"kid": "b"}
        ),
        "invalid algorithm:HS256 with a JWK": craft(
            {"alg": "HS256", "kid": "a"}, claims, rsa_pair.public_pem
        ),
    }
    await check(io, url, clients, attacks, valid)
