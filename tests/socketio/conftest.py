"""Socket.IO test kit: a server on a free port, and two real clients behind one small interface.

``clients`` makes test clients (``clients(parser="msgpack")``: with the msgpack parser) of the
kind the test is parametrized with: python-socketio's
``AsyncClient`` or Node's ``socket.io-client`` 4.8 (driven by tests/node/sio_client.js), each
over WebSocket only or over polling then upgrade.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import socketio

from roomcast.socketio.server import Server
from tests.conftest import NODE_MODULES, ROOT
from tests.waiting import end_process, until  # noqa: F401 - until: imported by the tests
from tests.wire import from_json, to_json

WAIT = 10.0
"""Seconds any single wait in these tests may take before it fails."""

TRANSPORTS = {"websocket": ["websocket"], "polling": ["polling", "websocket"]}
KINDS = ["python-websocket", "python-polling", "node-websocket", "node-polling"]


class ConnectFailed(Exception):
    """The server refused the connection (``connect_error``)."""

    def __init__(self, message: str, data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class SioClient:
    """One client socket in one namespace; events it receives land in :attr:`events`."""

    sid: str | None
    library: str
    """``"python"`` or ``"node"``: the two report disconnect reasons in their own words."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[tuple[str, list[Any]]] = asyncio.Queue()
        self.disconnected: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.replies: dict[str, list[Any]] = {}
        self.connects: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        """Node clients: each reconnection, as ``{"sid", "recovered"}``."""

    async def next_event(self, name: str | None = None) -> list[Any]:
        """The arguments of the next event received (skipping others if ``name`` is given)."""
        while True:
            event, args = await asyncio.wait_for(self.events.get(), WAIT)
            if name is None or event == name:
                return args

    async def reason(self) -> str:
        """The client's disconnect reason, once it disconnects."""
        return await asyncio.wait_for(asyncio.shield(self.disconnected), WAIT)

    path: str | None = None
    """The Engine.IO path to connect to (default: ``/socket.io/``)."""

    async def connect(self, url: str, nsp: str = "/", auth: Any = None) -> None:
        raise NotImplementedError

    async def reply(self, event: str, *values: Any) -> None:
        """Answer the server's acks for ``event`` with ``values`` (default: echo the args)."""
        raise NotImplementedError

    async def hold(self, event: str) -> None:
        """Never answer the server's acks for ``event``."""
        raise NotImplementedError

    async def emit(self, event: str, *args: Any) -> None:
        raise NotImplementedError

    async def call(self, event: str, *args: Any, timeout: float | None = None) -> list[Any]:
        """Emit with an ack and return the ack's arguments."""
        raise NotImplementedError

    async def disconnect(self) -> None:
        raise NotImplementedError

    async def close_transport(self) -> None:
        """Close the Engine.IO connection under the socket."""
        raise NotImplementedError


class PyClient(SioClient):
    """python-socketio's AsyncClient, one namespace."""

    library = "python"

    def __init__(self, transports: list[str], parser: str = "json") -> None:
        super().__init__()
        self.transports = transports
        serializer = "msgpack" if parser == "msgpack" else "default"
        self.sio = socketio.AsyncClient(reconnection=False, serializer=serializer)
        self.nsp = "/"
        self.sid = None
        self.held: set[str] = set()
        self._error: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def connect(self, url: str, nsp: str = "/", auth: Any = None) -> None:
        self.nsp = nsp

        async def catch_all(event: str, *args: Any) -> Any:
            self.events.put_nowait((event, list(args)))
            if event in self.held:
                await asyncio.Event().wait()  # never answers; cancelled with the client
            values = self.replies.get(event, list(args))
            return tuple(values) if len(values) != 1 else values[0]

        def on_disconnect(reason: str = "") -> None:
            if not self.disconnected.done():
                self.disconnected.set_result(str(reason))

        def on_connect_error(data: Any) -> None:
            if not self._error.done():
                self._error.set_result(data)

        self.sio.on("*", catch_all, namespace=nsp)
        self.sio.on("disconnect", on_disconnect, namespace=nsp)
        self.sio.on("connect_error", on_connect_error, namespace=nsp)
        try:
            await self.sio.connect(
                url,
                namespaces=[nsp],
                auth=auth,
                transports=self.transports,
                wait_timeout=WAIT,
                socketio_path=self.path or "socket.io",
            )
        except socketio.exceptions.ConnectionError as exc:
            data = self._error.result() if self._error.done() else None
            if isinstance(data, dict):
                raise ConnectFailed(data.get("message", ""), data.get("data")) from exc
            raise ConnectFailed(str(data if data is not None else exc), None) from exc
        self.sid = self.sio.get_sid(nsp)

    async def reply(self, event: str, *values: Any) -> None:
        self.replies[event] = list(values)

    async def hold(self, event: str) -> None:
        self.held.add(event)

    async def emit(self, event: str, *args: Any) -> None:
        await self.sio.emit(event, args if len(args) != 1 else args[0], namespace=self.nsp)

    async def call(self, event: str, *args: Any, timeout: float | None = None) -> list[Any]:
        data = args if len(args) != 1 else args[0]
        try:
            result = await self.sio.call(event, data, namespace=self.nsp, timeout=timeout or WAIT)
        except socketio.exceptions.TimeoutError as exc:
            raise TimeoutError("no ack in time") from exc
        if result is None:
            return []
        return list(result) if isinstance(result, tuple) else [result]

    async def disconnect(self) -> None:
        await self.sio.disconnect()

    async def close_transport(self) -> None:
        await self.sio.eio.disconnect(abort=True)


class NodeDriver:
    """One ``node tests/node/sio_client.js`` process; it can hold many client sockets."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.ids = itertools.count()
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.clients: dict[str, NodeClient] = {}
        self.reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def start(cls, node: str) -> NodeDriver:
        proc = await asyncio.create_subprocess_exec(
            node,
            str(ROOT / "tests" / "node" / "sio_client.js"),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "NODE_MODULES": str(NODE_MODULES)},
            limit=1 << 24,
        )
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            msg = json.loads(line)
            if "id" in msg:
                future = self.pending.pop(msg["id"])
                if "error" in msg:
                    future.set_exception(
                        ConnectFailed(msg["error"]["message"], from_json(msg["error"].get("data")))
                    )
                else:
                    future.set_result(from_json(msg["ok"]))
                continue
            client = self.clients.get(msg["name"])
            if client is None:
                continue
            if msg["type"] == "event":
                client.events.put_nowait((msg["event"], from_json(msg["args"])))
            elif msg["type"] == "disconnect" and not client.disconnected.done():
                client.disconnected.set_result(msg["reason"])
            elif msg["type"] == "connect":
                client.connects.put_nowait(msg)
        for future in self.pending.values():
            future.set_exception(RuntimeError("the Node client driver exited"))

    async def command(self, cmd: str, **fields: Any) -> Any:
        assert self.proc.stdin is not None
        cmd_id = next(self.ids)
        future = self.pending[cmd_id] = asyncio.get_running_loop().create_future()
        self.proc.stdin.write(json.dumps({"id": cmd_id, "cmd": cmd, **fields}).encode() + b"\n")
        await self.proc.stdin.drain()
        return await asyncio.wait_for(future, WAIT * 2)

    async def close(self) -> None:
        await end_process(self.proc)
        self.reader.cancel()


class NodeClient(SioClient):
    """A socket.io-client socket in the Node driver."""

    _names = itertools.count()
    library = "node"

    def __init__(
        self,
        driver: NodeDriver,
        transports: list[str],
        manager: str | None = None,
        parser: str = "json",
    ) -> None:
        super().__init__()
        self.driver = driver
        self.transports = transports
        self.manager = manager
        self.parser = parser
        self.name = f"s{next(self._names)}"
        self.sid = None
        self.options: dict[str, Any] = {}
        """More socket.io-client options for :meth:`connect` (``extraHeaders``...)."""
        driver.clients[self.name] = self

    async def connect(self, url: str, nsp: str = "/", auth: Any = None) -> None:
        fields: dict[str, Any] = {
            "name": self.name,
            "url": url,
            "nsp": nsp,
            "transports": self.transports,
        }
        if auth is not None:
            fields["auth"] = to_json(auth)
        if self.manager is not None:
            fields["manager"] = self.manager
        if self.options:
            fields["options"] = self.options
        if self.parser != "json":
            fields["parser"] = self.parser
        if self.path is not None:
            fields["path"] = self.path
        for event, values in self.replies.items():
            await self.driver.command("reply", name=self.name, event=event, value=to_json(values))
        result = await self.driver.command("connect", **fields)
        self.sid = result["sid"]

    async def reply(self, event: str, *values: Any) -> None:
        self.replies[event] = list(values)
        await self.driver.command("reply", name=self.name, event=event, value=to_json(list(values)))

    async def hold(self, event: str) -> None:
        await self.driver.command("reply", name=self.name, event=event, value=None)

    async def emit(self, event: str, *args: Any) -> None:
        await self.driver.command("emit", name=self.name, event=event, args=to_json(list(args)))

    async def call(self, event: str, *args: Any, timeout: float | None = None) -> list[Any]:
        try:
            result = await self.driver.command(
                "call", name=self.name, event=event, args=to_json(list(args)), timeout=timeout
            )
        except ConnectFailed as exc:
            raise TimeoutError(exc.message) from exc
        return list(result["args"])

    async def disconnect(self) -> None:
        await self.driver.command("disconnect", name=self.name)

    async def close_transport(self) -> None:
        await self.driver.command("close", name=self.name)


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    """Which client and transport: ``python-websocket``, ``python-polling``, ``node-...``."""
    return str(request.param)


ClientFactory = Callable[..., SioClient]


@pytest.fixture
async def clients(kind: str, request: pytest.FixtureRequest) -> AsyncIterator[ClientFactory]:
    """``clients()`` makes a new (unconnected) client of the parametrized kind."""
    made: list[SioClient] = []
    driver: NodeDriver | None = None
    library, transport = kind.split("-")
    if library == "node":
        driver = await NodeDriver.start(request.getfixturevalue("node"))

    def make(manager: str | None = None, parser: str = "json") -> SioClient:
        client: SioClient
        if driver is not None:
            client = NodeClient(driver, TRANSPORTS[transport], manager, parser)
        else:
            client = PyClient(TRANSPORTS[transport], parser)
        made.append(client)
        return client

    try:
        yield make
    finally:
        for client in made:
            if isinstance(client, PyClient) and client.sio.connected:
                await client.sio.disconnect()
        if driver is not None:
            await driver.close()


@pytest.fixture
async def io() -> AsyncIterator[Server]:
    """A roomcast Server listening on 127.0.0.1 (any free port); closed after the test."""
    server = Server()
    await server.listen("127.0.0.1", 0)
    try:
        yield server
    finally:
        await server.close()


def url_of(server: Server) -> str:
    """The http URL of a listening server."""
    return f"http://127.0.0.1:{server.listener.port}"
