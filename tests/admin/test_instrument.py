"""instrument() seen from a socket.io client on /admin: logins, read-only, production mode."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import socketio

from roomcast.admin import BasicAuth, instrument
from roomcast.socketio.server import Server
from tests.waiting import until

from .conftest import HASH, PASSWORD, USERNAME

Make = Callable[..., Any]


class AdminClient:
    """A python-socketio client on /admin keeping every event it gets."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, tuple[Any, ...]]] = []
        self.sio.on("*", self._record, namespace="/admin")

    def _record(self, event: str, *args: Any) -> None:
        self.events.append((event, args))

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def first(self, event: str) -> tuple[Any, ...]:
        return next(args for name, args in self.events if name == event)

    async def connect(self, url: str, **auth: Any) -> None:
        await self.sio.connect(url, namespaces=["/admin"], auth=auth, wait_timeout=10)


@pytest.fixture
async def server(port: int) -> AsyncIterator[Callable[..., Any]]:
    """``await start(**instrument_options)``: a served Server instrumented; its URL."""
    made: list[Server] = []

    async def start(**options: Any) -> tuple[Server, str]:
        io = Server()
        options.setdefault("auth", BasicAuth(USERNAME, HASH))
        instrument(io, **options)
        await io.listen("127.0.0.1", port)
        made.append(io)
        return io, f"http://127.0.0.1:{port}"

    yield start
    for io in made:
        await io.close()


@pytest.fixture
async def clients() -> AsyncIterator[list[socketio.AsyncClient]]:
    made: list[socketio.AsyncClient] = []
    yield made
    for client in made:
        if client.connected:
            await client.disconnect()


async def test_wrong_password_and_unknown_user_are_refused(server: Make) -> None:
    _, url = await server()
    refused: list[dict[str, Any]] = [
        {"username": USERNAME, "password": "nope"},
        {"username": "x", "password": PASSWORD},
        {},
        {"username": USERNAME, "password": "p" * 100},  # past bcrypt's 72 bytes
    ]
    for auth in refused:
        client = socketio.AsyncClient(reconnection=False)
        errors: asyncio.Queue[Any] = asyncio.Queue()
        client.on("connect_error", errors.put_nowait, namespace="/admin")
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(url, namespaces=["/admin"], auth=auth, wait_timeout=10)
        assert await asyncio.wait_for(errors.get(), 10) == {"message": "invalid credentials"}


async def test_session_id_logs_in_again_without_password(
    server: Make, clients: list[socketio.AsyncClient]
) -> None:
    _, url = await server()
    first = AdminClient()
    clients.append(first.sio)
    await first.connect(url, username=USERNAME, password=PASSWORD)
    await until(lambda: "session" in first.names())
    (session_id,) = first.first("session")
    again = AdminClient()
    clients.append(again.sio)
    await again.connect(url, sessionId=session_id)
    await until(lambda: "config" in again.names())
    assert "session" not in again.names()


async def test_read_only_refuses_the_actions(
    server: Make, clients: list[socketio.AsyncClient]
) -> None:
    io, url = await server(read_only=True)
    target = socketio.AsyncClient(reconnection=False)
    clients.append(target)
    await target.connect(url)
    admin = AdminClient()
    clients.append(admin.sio)
    await admin.connect(url, username=USERNAME, password=PASSWORD)
    await until(lambda: "config" in admin.names())
    assert admin.first("config") == ({"supportedFeatures": ["AGGREGATED_EVENTS", "ALL_EVENTS"]},)
    sid = target.get_sid("/")
    (session,) = [s for s in io.engine.sessions.values() if "/admin" in _namespaces(io, s)]
    received = session.received
    await admin.sio.emit("_disconnect", ("/", False, sid), namespace="/admin")
    await admin.sio.emit("join", ("/", "vip", sid), namespace="/admin")
    # both packets arrived and were handled (handlers run as they arrive): nothing happened
    await until(lambda: session.received >= received + 2)
    assert sid in io.sockets.sockets
    assert io.sockets.sockets[sid].rooms == {sid}
    assert target.connected


async def test_production_mode_reports_stats_only(
    server: Make, clients: list[socketio.AsyncClient]
) -> None:
    _, url = await server(mode="production", server_id="prod-1")
    admin = AdminClient()
    clients.append(admin.sio)
    await admin.connect(url, username=USERNAME, password=PASSWORD)
    await until(lambda: "server_stats" in admin.names())
    features = admin.first("config")[0]["supportedFeatures"]
    assert "ALL_EVENTS" not in features and "DISCONNECT" in features
    (stats,) = admin.first("server_stats")
    assert stats["serverId"] == "prod-1"
    assert {"name": "/admin", "socketsCount": 1} in stats["namespaces"]
    assert "all_sockets" not in admin.names() and "socket_connected" not in admin.names()


def test_password_hash_must_be_bcrypt() -> None:
    with pytest.raises(ValueError, match="bcrypt"):
        BasicAuth(USERNAME, "plain-text-password")
    with pytest.raises(ValueError, match="mode"):
        instrument(Server(), auth=None, mode="debug")  # type: ignore[arg-type]


def _namespaces(io: Server, session: Any) -> set[str]:
    return {
        name for name, nsp in io.namespaces.items()
        for socket in nsp.sockets.values() if socket.conn is session
    }  # fmt: skip
