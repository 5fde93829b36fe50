"""Fixtures of the chat tests: RSA keys, a chat server, python-socketio clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import socketio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from roomcast.apps.chat import create_app

from .tokens import SECRET

WAIT = 5.0
"""Seconds to wait for anything that should happen at once."""


@dataclass(frozen=True)
class RsaPair:
    private_pem: bytes
    public_pem: bytes


def _pair() -> RsaPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return RsaPair(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


@pytest.fixture(scope="session")
def rsa_pair() -> RsaPair:
    """The server's RSA key pair."""
    return _pair()


@pytest.fixture(scope="session")
def other_rsa_pair() -> RsaPair:
    """An RSA key pair the server does not trust."""
    return _pair()


class ChatClient:
    """A python-socketio client that keeps what it receives in queues."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.messages: asyncio.Queue[Any] = asyncio.Queue()
        self.errors: asyncio.Queue[Any] = asyncio.Queue()
        self.disconnects: asyncio.Queue[Any] = asyncio.Queue()
        # with connection state recovery on, the offset comes as the last argument
        self.sio.on("message", lambda payload, *offset: self.messages.put_nowait(payload))
        self.sio.on("connect_error", self.errors.put_nowait)
        self.sio.on("disconnect", lambda *reason: self.disconnects.put_nowait(reason))

    async def connect(self, url: str, token: str | None = None, **kwargs: Any) -> None:
        """Connect with ``token`` in the handshake's ``auth``."""
        auth = {"token": token} if token is not None else None
        await self.sio.connect(url, auth=auth, wait_timeout=WAIT, **kwargs)

    async def refusal(self, url: str, token: str | None = None, **kwargs: Any) -> str:
        """Connect, expect a refusal, and return the ``connect_error`` message."""
        with pytest.raises(socketio.exceptions.ConnectionError):
            await self.connect(url, token, **kwargs)
        error = await asyncio.wait_for(self.errors.get(), WAIT)
        return str(error["message"])

    async def call(self, event: str, *args: Any) -> Any:
        """Emit ``event`` and return the server's ack."""
        return await self.sio.call(event, args[0] if len(args) == 1 else args, timeout=WAIT)

    async def next_message(self) -> Any:
        """The next ``message`` event received."""
        return await asyncio.wait_for(self.messages.get(), WAIT)


@pytest.fixture
async def clients() -> AsyncIterator[Callable[[], ChatClient]]:
    """Make clients; all are disconnected at the end."""
    made: list[ChatClient] = []

    def make() -> ChatClient:
        made.append(ChatClient())
        return made[-1]

    yield make
    for client in made:
        if client.sio.connected:
            await client.sio.disconnect()


@pytest.fixture
async def chat_url(port: int) -> AsyncIterator[str]:
    """The URL of a chat server checking tokens with ``SECRET``."""
    io = create_app(jwt_secret=SECRET)
    await io.listen("127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await io.close()
