"""Every JWT refusal reaches a real python-socketio client as connect_error with its reason."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import jwt
import pytest

from roomcast.apps.chat import create_app
from roomcast.auth import jwt_auth
from roomcast.socketio.server import Server

from .conftest import ChatClient, RsaPair
from .tokens import SECRET, craft, user_token


def now() -> int:
    return int(time.time())


@pytest.fixture
async def strict_url(port: int, rsa_pair: RsaPair) -> AsyncIterator[str]:
    """A server that wants RS256 tokens for audience "chat" from issuer "roomcast"."""
    io = Server()
    io.use(jwt_auth(rsa_pair.public_pem, ["RS256"], audience="chat", issuer="roomcast"))

    @io.on("whoami")
    def whoami(socket: Any) -> Any:
        return socket.data["user"]

    await io.listen("127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await io.close()


def rs256(pair: RsaPair, **claims: Any) -> str:
    payload = {"id": "1", "aud": "chat", "iss": "roomcast", "exp": now() + 600, **claims}
    return jwt.encode(payload, pair.private_pem, algorithm="RS256")


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda: None, "missing token"),
        (lambda: "", "missing token"),
        (lambda: "garbage", "jwt malformed"),
        (lambda: user_token(exp=now() - 60), "jwt expired"),
        (lambda: user_token(nbf=now() + 600), "jwt not active"),
        (lambda: user_token(secret="not-the-server-secret-" + "z" * 40), "invalid signature"),
        (lambda: craft({"alg": "none"}, {"id": "1", "name": "Eve"}), "invalid algorithm"),
        (lambda: user_token(aud="someone-else"), "invalid audience"),
        (lambda: jwt.encode({"id": "1"}, SECRET, algorithm="HS256"), "jwt has no exp"),
        (lambda: user_token(id=None), "jwt has no user id"),
    ],
    ids=[
        *("none", "empty", "garbage", "expired", "early", "wrong-key", "alg-none", "audience"),
        *("no-expiry", "no-user-id"),
    ],
)
async def test_chat_refusals(
    chat_url: str,
    clients: Callable[[], ChatClient],
    make_token: Callable[[], str | None],
    reason: str,
) -> None:
    assert await clients().refusal(chat_url, make_token()) == reason


async def test_hs256_signed_with_the_public_key_is_refused(
    strict_url: str, clients: Callable[[], ChatClient], rsa_pair: RsaPair, other_rsa_pair: RsaPair
) -> None:
    forged = craft(
        {"alg": "HS256", "typ": "JWT"},
        {"id": "1", "aud": "chat", "iss": "roomcast", "exp": now() + 600},
        rsa_pair.public_pem,
    )
    assert await clients().refusal(strict_url, forged) == "invalid algorithm"
    wrong_key = rs256(other_rsa_pair)
    assert await clients().refusal(strict_url, wrong_key) == "invalid signature"
    assert await clients().refusal(strict_url, rs256(rsa_pair, aud="x")) == "invalid audience"
    assert await clients().refusal(strict_url, rs256(rsa_pair, iss="x")) == "invalid issuer"
    good = clients()
    await good.connect(strict_url, rs256(rsa_pair, name="Rui"))
    assert (await good.call("whoami"))["name"] == "Rui"


async def test_token_from_header_or_query(chat_url: str, clients: Callable[[], ChatClient]) -> None:
    header = clients()
    await header.connect(chat_url, headers={"Authorization": f"Bearer {user_token('5', 'Hal')}"})
    assert await header.call("join", "lobby") == {"status": "ok"}
    query = clients()
    await query.connect(f"{chat_url}/?token={user_token('6', 'Quy')}")
    assert await query.call("join", "lobby") == {"status": "ok"}


async def test_a_refusal_is_logged_once_without_the_token(
    chat_url: str, clients: Callable[[], ChatClient], caplog: pytest.LogCaptureFixture
) -> None:
    token = user_token(exp=now() - 60)
    with caplog.at_level(logging.INFO, logger="roomcast.auth"):
        assert await clients().refusal(chat_url, token) == "jwt expired"
    records = [r for r in caplog.records if r.name == "roomcast.auth"]
    assert len(records) == 1
    assert "jwt expired" in records[0].getMessage()
    assert token.split(".")[1] not in caplog.text and token.split(".")[2] not in caplog.text


async def test_a_chat_without_the_expiry_requirement_admits_tokens_that_never_expire(
    port: int, clients: Callable[[], ChatClient]
) -> None:
    io = create_app(jwt_secret=SECRET, require=())
    await io.listen("127.0.0.1", port)
    try:
        client = clients()
        await client.connect(f"http://127.0.0.1:{port}", jwt.encode({"id": "1"}, SECRET))
        assert await client.call("join", "lobby") == {"status": "ok"}
    finally:
        await io.close()
