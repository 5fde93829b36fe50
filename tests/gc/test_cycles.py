"""A connection's life leaves no cyclic garbage on the server.

What a closed connection leaves behind should be freed by reference counting the moment it is
dropped. An object kept in a reference cycle waits for the garbage collector instead, and with a
raised young-generation threshold (``--gc-threshold``) it may wait through promotions to the
oldest generation: the memory of closed connections then piles up. Each test runs lifecycles of
one kind against a real server on 127.0.0.1, the clients in a process of their own (their
garbage is not ours), with the collector disabled, then collects once and counts what it found.

The only cycle accepted is the standard library's own, on CPython < 3.12 with asyncio's loop:
``_SelectorSocketTransport`` keeps a bound method of itself (``_read_ready_cb``) after it closes
(CPython gh-100348, fixed in 3.12), 7 small objects per TCP connection, none of them ours (the
transport has dropped its protocol by then). uvloop, the loop ``roomcast serve`` picks when it is
installed, has no such cycle.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import json
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn

from roomcast.apps.chat import create_app
from roomcast.asgi import ASGIApp
from roomcast.auth.jwt import jwt_auth
from roomcast.errors import AckTimeoutError, SocketDisconnected
from roomcast.rooms.adapter import Adapter
from roomcast.rooms.memory import MemoryAdapter
from roomcast.runtime import loop_factory
from roomcast.socketio.recovery import RecoveryOptions
from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket
from tests.chat.tokens import SECRET, user_token
from tests.conftest import ROOT, free_port
from tests.gc.garbage import Garbage, cyclic_garbage, settle, type_name
from tests.waiting import until

WAIT = 30.0
KINDS = [
    "websocket",
    "server-disconnect",
    "polling-upgrade",
    "polling",
    "ping-timeout",
    "refused",
    "chat",
    "bad-sid",
    "acks",
    "handler-errors",
    "abort",
    "client-close",
    "connect-timeout",
    "poll-dropped",
    "recovery",
    "recovery-expired",
    "compressed",
    "protocol-error",
]
LOOPS = [
    "asyncio",
    pytest.param(
        "uvloop",
        marks=pytest.mark.skipif(
            not loop_factory("auto")[1].startswith("uvloop"), reason="uvloop not installed"
        ),
    ),
]
N = 5
"""Lifecycles measured (after two that warm up caches and lazy imports)."""


def make_server(kind: str) -> Server:
    """The server the clients of ``kind`` (tests/gc/clients.py) expect."""
    if kind in ("chat", "recovery"):
        return create_app(jwt_secret=SECRET)
    if kind == "recovery-expired":
        recovery = RecoveryOptions(max_disconnection_duration=0.05)
        return create_app(jwt_secret=SECRET, connection_state_recovery=recovery)
    options: dict[str, Any] = {}
    if kind == "ping-timeout":
        options.update(ping_interval=0.05, ping_timeout=0.05)
    if kind == "connect-timeout":
        options.update(connect_timeout=0.05)
    if kind == "compressed":
        options.update(websocket_compression=True)
    io = Server(**options)
    if kind == "refused":
        io.use(jwt_auth(SECRET, ["HS256"]))

    def echo(socket: Socket, data: Any) -> Any:
        return data

    def join(socket: Socket, room: str) -> str:
        socket.join(room)
        return "joined"

    def leave(socket: Socket, room: str) -> str:
        socket.leave(room)
        return "left"

    def shout(socket: Socket, data: list[str]) -> None:
        io.to(data[0]).emit("shout", data[1])

    def kick(socket: Socket) -> None:
        socket.disconnect()

    def transport(socket: Socket) -> str:
        return socket.conn.transport_name

    async def ask(socket: Socket, value: int) -> list[Any]:
        answer = await socket.emit_with_ack("question", value, timeout=WAIT)
        timeouts = 0
        try:
            await socket.emit_with_ack("slow", timeout=0.05)
        except AckTimeoutError:
            timeouts += 1
        try:
            await io.to(socket.id).timeout(0.05).emit_with_ack("slow")  # a broadcast's
        except AckTimeoutError:
            timeouts += 1
        return [answer, timeouts]

    async def wait(socket: Socket) -> None:
        with contextlib.suppress(SocketDisconnected):
            await socket.emit_with_ack("hold")

    def boom(socket: Socket) -> None:
        raise ValueError("boom")

    async def aboom(socket: Socket) -> None:
        await asyncio.sleep(0)
        raise ValueError("aboom")

    for handler in (echo, join, leave, shout, kick, transport, ask, wait, boom, aboom):
        io.on(handler.__name__, handler)
    return io


def idle(io: Server) -> list[Callable[[], bool]]:
    """What holds once every connection to ``io`` is over."""
    engine, listener = io.engine, io.active_listener
    checks = [
        lambda: not engine.sessions,
        lambda: not engine._websockets,
        lambda: not any(nsp.sockets for nsp in io.namespaces.values()),
    ]
    if listener is not None:  # served by roomcast's own front (not by an ASGI server)
        checks.append(lambda: not listener._connections)
    return checks


def _kept(adapter: Adapter) -> int:
    """Sessions kept for connection state recovery by a memory adapter."""
    return len(adapter.recovery.sessions) if isinstance(adapter, MemoryAdapter) else 0


STDLIB_CYCLE_TYPES = {
    "asyncio.selector_events._SelectorSocketTransport",
    "builtins.method asyncio.selector_events._SelectorSocketTransport._read_ready__data_received",
    "builtins.dict",
    "asyncio.trsock.TransportSocket",
    "socket.socket",
    "builtins.tuple",
}
"""What a closed selector transport's cycle holds: itself, its bound method, its ``extra`` dict
(peername, sockname, the closed socket)."""


def stdlib_transport_cycles(garbage: Garbage) -> set[int]:
    """The ids of the garbage objects that only closed asyncio selector transports hold (the
    standard library's cycle described above)."""
    ids = {id(obj) for obj in garbage.objects}
    held: set[int] = set()
    stack = [
        obj
        for obj in garbage.objects
        if type(obj).__name__ == "_SelectorSocketTransport" and obj._sock is None
    ]
    while stack:
        obj = stack.pop()
        if id(obj) in held:
            continue
        assert type_name(obj) in STDLIB_CYCLE_TYPES, f"a closed transport holds {obj!r}"
        held.add(id(obj))
        stack += [ref for ref in gc.get_referents(obj) if id(ref) in ids]
    return held


CLOSES = {"ping-timeout": "ping timeout", "connect-timeout": "forced close"}
CLOSES |= {"poll-dropped": "transport error", "protocol-error": "transport error", "bad-sid": None}
"""How the server saw each kind of connection end (default ``transport close``; ``None``: no
session, a refused request)."""
SESSIONS = {"recovery": 2}
"""Engine.IO sessions per lifecycle (default 1)."""


@contextlib.contextmanager
def logs_dropped() -> Iterator[None]:
    """Keep roomcast's log records from pytest's capture, which would keep the exceptions
    logged (and the frames of their tracebacks) alive, hiding what they refer to."""
    logger = logging.getLogger("roomcast")
    handler = logging.NullHandler()
    propagate, logger.propagate = logger.propagate, False
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


async def measure(kind: str, n: int, asgi: bool = False) -> tuple[Garbage, Server]:
    """The cyclic garbage left on the server by ``n`` lifecycles of ``kind`` (after two more,
    not measured, that warm up lazy imports and caches), and the server (closed). With
    ``asgi``, the server is served by uvicorn, in this process, through :class:`ASGIApp`."""
    clients = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "tests" / "gc" / "clients.py"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    io = make_server(kind)
    uvicorn_server: uvicorn.Server | None = None
    if asgi:
        port = free_port()
        config = uvicorn.Config(
            ASGIApp(io), host="127.0.0.1", port=port, loop="none", log_level="warning"
        )
        uvicorn_server = uvicorn.Server(config)
        serving = asyncio.ensure_future(uvicorn_server.serve())
        await until(lambda: uvicorn_server.started or serving.done())
    else:
        await io.listen("127.0.0.1", 0)
        port = io.listener.port
    url = f"http://127.0.0.1:{port}"
    checks = idle(io)
    if kind == "recovery-expired":  # the sessions kept for recovery are forgotten
        checks.append(lambda: not any(_kept(nsp.adapter) for nsp in io.namespaces.values()))
    server_tasks = asyncio.all_tasks()  # the uvicorn server's own (its lifespan...)

    async def run(count: int) -> None:
        assert clients.stdin is not None and clients.stdout is not None
        command = {"kind": kind, "url": url, "n": count, "token": user_token()}
        clients.stdin.write(json.dumps(command).encode() + b"\n")
        answer = await asyncio.wait_for(clients.stdout.readline(), WAIT)
        assert answer == b"ok\n", answer
        await settle(*checks, timeout=WAIT, ignore=server_tasks)

    try:
        with logs_dropped():
            await run(2)
            return await cyclic_garbage(lambda: run(n)), io
    finally:
        if uvicorn_server is not None:
            uvicorn_server.should_exit = True
            await asyncio.wait_for(serving, WAIT)
        else:
            await io.close(timeout=1)
        assert clients.stdin is not None
        clients.stdin.close()
        await asyncio.wait_for(clients.wait(), WAIT)


def per_lifecycle(
    freed: collections.Counter[str], counted: Callable[[str], bool] = lambda name: True
) -> collections.Counter[str]:
    """The types of ``freed`` (by finalizers) that ``counted`` keeps, freed N times or more. A
    lifecycle that leaves a cycle leaves one of each of its objects: under N of a type is a
    one-off (a weak cache's entry), not a lifecycle's."""
    return collections.Counter({k: n for k, n in freed.items() if n >= N and counted(k)})


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("kind", KINDS)
def test_lifecycle_leaves_no_cyclic_garbage(kind: str, loop: str) -> None:
    factory, _ = loop_factory(loop)
    with asyncio.Runner(loop_factory=factory) as runner:
        garbage, io = runner.run(measure(kind, N))
    # the lifecycles ended as they should
    reason = CLOSES.get(kind, "transport close")
    if reason is None:
        assert io.engine.handshakes == 0 and sum(io.engine.refusals.values()) == N + 2
    else:
        assert io.engine.closes == {reason: SESSIONS.get(kind, 1) * (N + 2)}
    stdlib = stdlib_transport_cycles(garbage) if loop == "asyncio" else set()
    ours = Garbage(
        [obj for obj in garbage.objects if id(obj) not in stdlib], per_lifecycle(garbage.freed)
    )
    assert len(ours) == 0, f"{N} lifecycles of {kind} left cyclic garbage:\n{ours.summary()}"


ASGI_KINDS = ["websocket", "polling-upgrade", "polling", "acks", "abort", "ping-timeout"]


@pytest.mark.parametrize("kind", ASGI_KINDS)
def test_asgi_lifecycle_leaves_no_cyclic_garbage_of_roomcast(kind: str) -> None:
    """Under uvicorn: uvicorn has cycles of its own per connection (its protocol and its
    httptools parser, as roomcast's front had), so only roomcast's objects are counted."""
    with asyncio.Runner() as runner:
        garbage, io = runner.run(measure(kind, N, asgi=True))
    assert io.engine.closes == {CLOSES.get(kind, "transport close"): N + 2}
    ours = Garbage(
        [obj for obj in garbage.objects if "roomcast" in type_name(obj)],
        per_lifecycle(garbage.freed, lambda name: "roomcast" in name),
    )
    assert len(ours) == 0, f"{N} lifecycles of {kind} left cyclic garbage:\n{ours.summary()}"
