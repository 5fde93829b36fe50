"""Differential check against Node's socket.io 4.8: the same raw packets in, the same answers out.

Both servers (tests/node/sio_server.js and the Python server below) have: an echo handler on
``/``, a ``/refused`` namespace whose middleware refuses with a message and data, and dynamic
namespaces matching ``^/dyn-\\d+$``. Ids are masked before comparing.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from roomcast.errors import ConnectionRefused
from roomcast.socketio.recovery import RecoveryOptions
from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket
from tests.conftest import NODE_MODULES, ROOT

from .conftest import WAIT

SID = re.compile(r'"sid":"[^"]+"')

# (name, steps): each step sends one message, then reads that many answers (a frame, or the
# connection closing). Reading before the next send keeps both servers' timing out of it: Node
# connects a socket asynchronously, so a packet sent right behind its CONNECT finds no socket.
Steps = list[tuple[str | bytes, int]]
CASES: list[tuple[str, Steps]] = [
    ("connect main", [("40", 1)]),
    ("connect with auth", [('40{"token":"abc"}', 1)]),
    ("unknown namespace", [("40/nope,", 1)]),
    ("unknown namespace, then main", [("40/nope,", 1), ("40", 1)]),
    ("refused by middleware", [("40/refused,", 1)]),
    ("dynamic namespace", [("40/dyn-12,", 1)]),
    ("dynamic namespace mismatch", [("40/dyn-x,", 1)]),
    ("event with ack", [("40", 1), ('421["echo",1,"a",{"b":[null]}]', 1)]),
    (
        "binary event with ack",
        [("40", 1), ('451-12["echo",{"_placeholder":true,"num":0}]', 0), (b"\x01\x02", 2)],
    ),
    ("unknown packet type", [("40", 1), ("4abc", 1)]),
    ("event payload not an array", [("40", 1), ("42{}", 1)]),
    ("junk before the payload", [("40", 1), ('42abc["x"]', 1)]),
    ("reserved event name", [("40", 1), ('42["disconnect"]', 1)]),
    (
        "binary attachment missing",
        [("40", 1), ('451-["echo",{"_placeholder":true,"num":0}]', 0), ("42[]", 1)],
    ),
    ("event before connect", [('42["echo"]', 1)]),
    ("connect twice", [("40", 1), ("40", 1)]),
    ("bad connect payload", [("40abc", 1)]),
    ("connect payload not an object", [('40"x"', 1)]),
    ("disconnect before connect", [("41", 1)]),
    ("connect error from the client", [('44{"message":"x"}', 1)]),
    ("ack for nothing", [("40", 1), ("431[]", 0), ('421["echo"]', 1)]),
    # the "/dyn-1" round trip lets Node finish the DISCONNECT (handled on its next tick)
    ("client namespace disconnect", [("40", 1), ("41", 0), ("40/dyn-1,", 1), ("40", 1)]),
]


def mask(text: str) -> str:
    return SID.sub('"sid":"<sid>"', text)


def python_server(recovery: RecoveryOptions | None = None) -> Server:
    io = Server(connection_state_recovery=recovery)
    io.on("echo", lambda socket, *args: args)
    io.on("shout", lambda socket, *args: io.emit("news", *args))
    io.on("whisper", lambda socket, *args: socket.emit("news", *args))
    io.on("quiet", lambda socket, *args: io.volatile.emit("news", *args))

    def refuse(socket: Socket) -> None:
        raise ConnectionRefused("not allowed", {"code": 42})

    io.of("/refused").use(refuse)
    io.of(re.compile(r"^/dyn-\d+$"))
    return io


@pytest.fixture(scope="module")
def node_port() -> Iterator[int]:
    """The port of a running Node socket.io 4.8 reference server."""
    yield from node_server({})


@pytest.fixture(scope="module")
def node_recovery_port() -> Iterator[int]:
    """The port of a Node reference server with connection state recovery on."""
    yield from node_server({"connectionStateRecovery": {}})


def node_server(options: dict[str, Any]) -> Iterator[int]:
    proc = subprocess.Popen(
        ["node", str(ROOT / "tests" / "node" / "sio_server.js"), json.dumps(options)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "NODE_MODULES": str(NODE_MODULES)},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    try:
        yield int(json.loads(line)["port"])
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
async def python_port() -> AsyncIterator[int]:
    io = python_server()
    await io.listen("127.0.0.1", 0)
    try:
        yield io.listener.port
    finally:
        await io.close()


async def transcript(port: int, steps: Steps) -> list[Any]:
    """Open a raw WebSocket session and run ``steps``; return every answer read."""
    out: list[Any] = []
    async with ws_connect(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket") as ws:
        out.append(mask(str(await asyncio.wait_for(ws.recv(), WAIT))))
        for message, answers in steps:
            await ws.send(message)
            for _ in range(answers):
                try:
                    frame = await asyncio.wait_for(ws.recv(), WAIT)
                except ConnectionClosed as closed:
                    out.append(f"<closed {closed.rcvd.code if closed.rcvd else None}>")
                    return out
                out.append(frame if isinstance(frame, bytes) else mask(frame))
    return out


@pytest.mark.parametrize(("name", "steps"), CASES, ids=[c[0] for c in CASES])
async def test_same_answers_as_node(
    node_port: int, python_port: int, name: str, steps: Steps
) -> None:
    expected = await transcript(node_port, steps)
    actual = await transcript(python_port, steps)
    assert actual == expected


async def polling_transcript(port: int) -> list[Any]:
    base = f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
    out: list[Any] = []
    async with httpx.AsyncClient(timeout=WAIT) as http:
        opened = await http.get(base)
        out.append((opened.status_code, mask(opened.text)))
        sid = json.loads(opened.text[1:])["sid"]
        url = f"{base}&sid={sid}"
        posted = await http.post(url, content="40/nope,\x1e40/refused,\x1e40")
        out.append((posted.status_code, posted.text))
        polled = await http.get(url)
        out.append((polled.status_code, sorted(mask(polled.text).split("\x1e"))))
        posted = await http.post(url, content="4abc")
        out.append((posted.status_code, posted.text))
        polled = await http.get(url)
        out.append((polled.status_code, polled.text))
    return out


async def test_polling_handshake_and_connect_like_node(node_port: int, python_port: int) -> None:
    assert await polling_transcript(python_port) == await polling_transcript(node_port)


class Recovery:
    """A raw WebSocket walk through connection state recovery; ids, pids and offsets masked
    (the dropped socket's own id and pid as ``<sidA>``/``<pidA>``, to see they come back)."""

    def __init__(self, port: int) -> None:
        self.url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
        self.out: list[str] = []
        self.names: dict[str, str] = {}

    def mask(self, frame: str) -> str:
        for value, name in self.names.items():
            frame = frame.replace(f'"{value}"', f'"<{name}>"')
        frame = re.sub(r'"(sid|pid)":"[^"<][^"]*"', r'"\1":"<\1>"', frame)
        if frame.startswith("42"):
            data = json.loads(frame[2:])
            if isinstance(data[-1], str):
                data[-1] = "<offset>"
            frame = "42" + json.dumps(data, separators=(",", ":"))
        return frame

    async def read(self, ws: Any, count: int) -> list[str]:
        frames = [str(await asyncio.wait_for(ws.recv(), WAIT)) for _ in range(count)]
        self.out += [self.mask(f) for f in frames]
        return frames

    async def run(self) -> list[str]:
        async with ws_connect(self.url) as a:
            await self.read(a, 1)
            await a.send("40")
            (connected,) = await self.read(a, 1)
            session = json.loads(connected[2:])
            self.names = {session["sid"]: "sidA", session["pid"]: "pidA"}
            self.out[-1] = self.mask(connected)
            await a.send('421["whisper",1]')
            await self.read(a, 2)
            await a.send('422["shout",2]')
            (shout, _) = await self.read(a, 2)
            offset = json.loads(shout[2:])[-1]
            await a.send('423["quiet",3]')
            await self.read(a, 2)
        async with ws_connect(self.url) as b:
            await self.read(b, 1)
            await b.send("40")
            await self.read(b, 1)
            for n, value in enumerate([10, 11], 1):
                await b.send(f'42{n}["shout",{value}]')
                await self.read(b, 2)
            await b.send('423["quiet",12]')
            await self.read(b, 2)
            async with ws_connect(self.url) as c:
                await self.read(c, 1)
                await c.send("40" + json.dumps({"pid": session["pid"], "offset": offset}))
                await self.read(c, 3)  # the two missed shouts, then the CONNECT answer
                await c.send('421["whisper",13]')
                await self.read(c, 2)
                await b.send('424["shout",14]')
                await self.read(c, 1)
                await self.read(b, 2)
        async with ws_connect(self.url) as d:
            await self.read(d, 1)
            await d.send('40{"pid":"nope","offset":"nope"}')
            await self.read(d, 1)
        return self.out


async def recovery_transcript(port: int) -> list[str]:
    walk = Recovery(port)
    return await walk.run()


@pytest.fixture
async def python_recovery_port() -> AsyncIterator[int]:
    io = python_server(RecoveryOptions())
    await io.listen("127.0.0.1", 0)
    try:
        yield io.listener.port
    finally:
        await io.close()


async def test_connection_state_recovery_like_node(
    node_recovery_port: int, python_recovery_port: int
) -> None:
    expected = await recovery_transcript(node_recovery_port)
    assert '42["news",10,"<offset>"]' in expected, expected  # the walk did recover in Node
    assert await recovery_transcript(python_recovery_port) == expected
