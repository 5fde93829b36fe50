"""Redis test kit: a real ``redis-server`` on a free port, roomcast servers sharing it, and a Node
socket.io 4.8 server with ``@socket.io/redis-adapter`` 8.3 (or ``@socket.io/redis-streams-adapter``
0.3) driven over stdin.

The Socket.IO clients come from the kit of tests/socketio (imported, not copied).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from roomcast.errors import ConnectionRefused
from roomcast.rooms.redis import redis_adapter
from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket
from tests.conftest import NODE_MODULES, ROOT, free_port
from tests.socketio.conftest import WAIT, clients, from_json, to_json, until  # noqa: F401
from tests.waiting import end_process

__all__ = ["WAIT", "Names", "NodeServer", "NodeStreamsServer", "RedisServer", "numsub", "until"]


NO_PERSISTENCE = ["--save", "", "--appendonly", "no", "--daemonize", "no"]


class RedisServer:
    """A ``redis-server`` process without persistence, on ``port``; can stop and start again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            pytest.fail("redis-server is required (scripts/system-deps.sh installs it)")
        self.process = subprocess.Popen(
            [executable, "--port", str(self.port), "--bind", "127.0.0.1", *NO_PERSISTENCE],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + WAIT
        while True:  # poll the real condition: the server answers PING
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.01)
            finally:
                client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(WAIT)
        self.process = None


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the whole session (tests isolate themselves with key prefixes)."""
    server = RedisServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


_keys = itertools.count()


@pytest.fixture
def key() -> str:
    """A channel prefix of the test's own."""
    return f"test{next(_keys)}-{os.getpid()}"


async def numsub(url: str, channel: str) -> int:
    """``PUBSUB NUMSUB channel`` on the Redis at ``url``."""
    client = redis.asyncio.Redis.from_url(url)
    try:
        answer = await client.pubsub_numsub(channel)
        return int(answer[0][1])
    finally:
        await client.aclose()


async def wait_servers(url: str, channel: str, count: int) -> None:
    """Wait until ``count`` servers subscribe to the request ``channel``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while await numsub(url, channel) != count:
        if loop.time() > deadline:
            raise TimeoutError(f"{channel} does not have {count} subscribers")
        await asyncio.sleep(0.01)


def setup_app(io: Server, name: str) -> Server:
    """The test app: ``socket.data["server"] = name``; ``join`` (ack ``"joined"``); ``ask``
    answers nothing server-side (clients answer the server's acks)."""

    def remember(socket: Socket) -> None:
        if socket.handshake.auth.get("refuse"):
            raise ConnectionRefused("refused")
        socket.data["server"] = name

    io.use(remember)

    @io.on("join")
    def join(socket: Socket, room: str) -> str:
        socket.join(room)
        return "joined"

    return io


ServerFactory = Callable[..., Awaitable[Server]]


@pytest.fixture
async def servers(redis_server: RedisServer, key: str) -> AsyncIterator[ServerFactory]:
    """``await servers(name)`` -> a roomcast Server on a free port with the Redis adapter (prefix
    ``key``), subscribed once it returns; all closed after the test."""
    made: list[Server] = []

    async def make(name: str, url: str | None = None, **adapter_options: Any) -> Server:
        adapter = redis_adapter(url or redis_server.url, key=key, **adapter_options)
        io = setup_app(Server(adapter=adapter), name)
        await io.listen("127.0.0.1", 0)
        made.append(io)
        return io

    try:
        yield make
    finally:
        for io in made:
            await io.close()


class NodeServer:
    """``node tests/node/redis_server.js URL``: Node socket.io with the Redis adapter."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ids = itertools.count()

    @classmethod
    async def start(
        cls, node: str, redis_url: str, parser: str = "json", **options: Any
    ) -> NodeServer:
        proc = await asyncio.create_subprocess_exec(
            node,
            str(ROOT / "tests" / "node" / "redis_server.js"),
            redis_url,
            json.dumps(options),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "NODE_MODULES": str(NODE_MODULES), "SIO_PARSER": parser},
        )
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), WAIT)
        return cls(proc, json.loads(line)["port"])

    async def command(self, cmd: str, **fields: Any) -> Any:
        """Run a command (see redis_server.js) and return its answer."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        cmd_id = next(self.ids)
        line = json.dumps({"id": cmd_id, "cmd": cmd, **to_json(fields)}).encode() + b"\n"
        self.proc.stdin.write(line)
        await self.proc.stdin.drain()
        answer = json.loads(await asyncio.wait_for(self.proc.stdout.readline(), WAIT * 2))
        assert answer["id"] == cmd_id
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return from_json(answer["ok"])

    async def close(self) -> None:
        await end_process(self.proc)


@pytest.fixture(params=["python-websocket", "node-websocket"])
def kind(request: pytest.FixtureRequest) -> str:
    """The clients of these tests: python-socketio and Node socket.io-client (WebSocket; polling
    is covered by the tests of tests/socketio and by the --workers tests)."""
    return str(request.param)


# the Redis Streams adapter


@dataclass
class Names:
    """One test's Redis names, in Node's option names and in roomcast's."""

    key: str

    @property
    def node(self) -> dict[str, str]:
        return {
            "streamName": f"{self.key}-stream",
            "channelPrefix": self.key,
            "sessionKeyPrefix": f"{self.key}:session:",
        }

    @property
    def python(self) -> dict[str, str]:
        return {
            "stream_name": f"{self.key}-stream",
            "channel_prefix": self.key,
            "session_key_prefix": f"{self.key}:session:",
        }

    @property
    def channel(self) -> str:
        """The main namespace's public channel (its NUMSUB counts the servers)."""
        return f"{self.key}#/#"


@pytest.fixture
def names(key: str) -> Names:
    return Names(key)


class NodeStreamsServer:
    """``node tests/node/redis_streams_server.js URL OPTIONS``."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ids = 0

    @classmethod
    async def start(cls, node: str, redis_url: str, **options: Any) -> NodeStreamsServer:
        proc = await asyncio.create_subprocess_exec(
            node,
            str(ROOT / "tests" / "node" / "redis_streams_server.js"),
            redis_url,
            json.dumps(options),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "NODE_MODULES": str(NODE_MODULES)},
        )
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), WAIT)
        return cls(proc, json.loads(line)["port"])

    async def command(self, cmd: str, **fields: Any) -> Any:
        """Run a command (see redis_streams_server.js) and return its answer."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.ids += 1
        line = json.dumps({"id": self.ids, "cmd": cmd, **to_json(fields)}).encode() + b"\n"
        self.proc.stdin.write(line)
        await self.proc.stdin.drain()
        answer = json.loads(await asyncio.wait_for(self.proc.stdout.readline(), WAIT * 2))
        assert answer["id"] == self.ids
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return from_json(answer["ok"])

    async def close(self) -> None:
        await end_process(self.proc)
