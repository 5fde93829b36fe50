"""Fixtures for the Engine.IO tests: an echo engine on a real port, Node's engine.io beside it."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from roomcast.engine.engine import Engine
from roomcast.engine.listener import Listener
from roomcast.engine.session import Session
from tests.conftest import ROOT, free_port
from tests.waiting import until  # noqa: F401 - the test modules import it from here

PATH = "/engine.io/"
TIMEOUT = 10.0


class EchoServer:
    """A roomcast engine on ``PATH`` echoing every message; ``"close"`` closes the session,
    ``"bye"`` sends ``"bye"`` then closes it, ``"plain:TEXT"`` sends TEXT with
    ``compress=False`` and ``"whoami"`` sends the handshake request's ``state`` (set by a
    middleware; ``"none"`` without one)."""

    def __init__(self, **options: Any) -> None:
        self.engine = Engine(path=PATH, **options)
        self.listener = Listener()
        self.listener.mount(self.engine)
        self.sessions: dict[str, Session] = {}
        self.closed: dict[str, asyncio.Future[tuple[str, str | None]]] = {}
        self.connected: asyncio.Queue[Session] = asyncio.Queue()
        self.engine.on("connection", self._on_connection)

    def _on_connection(self, session: Session) -> None:
        closed = asyncio.get_running_loop().create_future()
        self.sessions[session.sid] = session
        self.closed[session.sid] = closed

        def on_message(data: str | bytes) -> None:
            if isinstance(data, str) and data.startswith("plain:"):
                session.send(data[6:], compress=False)
            elif data == "whoami":
                session.send(str(session.request.state or "none"))
            elif data == "close":
                session.close()
            elif data == "bye":
                session.send("bye")
                session.close()
            else:
                session.send(data)

        def on_close(reason: str, description: str | None) -> None:
            closed.set_result((reason, description))

        session.on_message = on_message
        session.on_close = on_close
        self.connected.put_nowait(session)

    async def start(self) -> EchoServer:
        await self.listener.start("127.0.0.1", 0)
        return self

    @property
    def port(self) -> int:
        return self.listener.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    async def close_reason(self, sid: str) -> str:
        """Wait for the session ``sid`` to close and return its reason."""
        reason, _ = await asyncio.wait_for(asyncio.shield(self.closed[sid]), TIMEOUT)
        return reason


MakeServer = Callable[..., Awaitable[EchoServer]]


@pytest.fixture
async def make_server() -> AsyncIterator[MakeServer]:
    """A factory of started echo servers (closed after the test)."""
    servers: list[EchoServer] = []

    async def make(**options: Any) -> EchoServer:
        server = await EchoServer(**options).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.listener.close(timeout=0.2)


@pytest.fixture
async def server(make_server: MakeServer) -> EchoServer:
    """An echo server with Node's default options."""
    return await make_server()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        yield client


class NodeServer:
    """Node's engine.io 6 (tests/node/engine_server.js) with the same echo behaviour."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}{PATH}"


async def start_node(node: str, options: dict[str, Any] | None = None) -> NodeServer:
    port = free_port()
    script = str(ROOT / "tests" / "node" / "engine_server.js")
    process = await asyncio.create_subprocess_exec(
        node,
        script,
        str(port),
        json.dumps(options or {}),
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), TIMEOUT)
    assert line.strip() == b"ready", line
    return NodeServer(process, port)


async def stop_node(server: NodeServer) -> None:
    server.process.kill()
    await server.process.wait()


# raw-protocol helpers


def open_data(body: str) -> dict[str, Any]:
    """The JSON of an open packet ``0{...}``."""
    assert body.startswith("0"), body
    data: dict[str, Any] = json.loads(body[1:])
    return data


async def handshake(http: httpx.AsyncClient, url: str, **params: str) -> str:
    """Open a polling session and return its sid."""
    response = await http.get(url, params={"EIO": "4", "transport": "polling", **params})
    assert response.status_code == 200, response.text
    return str(open_data(response.text)["sid"])


def polling(sid: str) -> dict[str, str]:
    return {"EIO": "4", "transport": "polling", "sid": sid}


def ws_url(url: str, **params: str) -> str:
    query = "&".join(
        f"{k}={v}" for k, v in {"EIO": "4", "transport": "websocket", **params}.items()
    )
    return url.replace("http://", "ws://") + "?" + query


def ws_connect(url: str, **params: str) -> Any:
    """A raw WebSocket client on the engine (no compression, no websockets pings)."""
    return connect(
        ws_url(url, **params), compression=None, ping_interval=None, open_timeout=TIMEOUT
    )


def poll_pending(server: EchoServer, sid: str) -> Callable[[], bool]:
    """Whether session ``sid`` has a long-poll GET waiting (for :func:`until`)."""
    return lambda: bool(server.sessions[sid].transport.writable)


async def recv(ws: ClientConnection) -> str | bytes:
    return await asyncio.wait_for(ws.recv(), TIMEOUT)


async def probe(url: str, sid: str) -> ClientConnection:
    """Open a WebSocket on polling session ``sid`` and play the probe (``2probe``/``3probe``)."""
    ws: ClientConnection = await ws_connect(url, sid=sid)
    await ws.send("2probe")
    assert await recv(ws) == "3probe"
    return ws


async def post_and_poll(http: httpx.AsyncClient, url: str, sid: str, message: str) -> str:
    """POST one text message to the echo server and return the next poll's answer."""
    await http.post(url, params=polling(sid), content="4" + message)
    return (await http.get(url, params=polling(sid))).text


SID = re.compile(r'"sid":"[^"]+"')


def normalize(text: str, sids: list[str]) -> str:
    """Replace session ids (in an open packet or given) by ``<sid>``."""
    text = SID.sub('"sid":"<sid>"', text)
    for sid in sids:
        text = text.replace(sid, "<sid>")
    return text
