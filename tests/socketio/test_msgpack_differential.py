"""Differential check of the msgpack parser against Node's socket.io 4.8 with
``socket.io-msgpack-parser``: the same packets in over polling and WebSocket, byte-identical
answers out (the Socket.IO sid masked). Polling carries each binary packet as ``b<base64>``,
packets joined by ``\\x1e``, as Node sends them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import msgpack  # type: ignore[import-untyped]
import pytest
from websockets.asyncio.client import connect as ws_connect

from roomcast.errors import ConnectionRefused
from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket
from tests.conftest import NODE_MODULES, ROOT

from .conftest import WAIT

ENGINE_SID = re.compile(r'"sid":"[^"]+"')


def pack(obj: Any) -> bytes:
    data: bytes = msgpack.packb(obj)
    return data


def client_packet(type_: int, data: Any = None, id_: int | None = None, nsp: str = "/") -> bytes:
    """A packet as socket.io-client 4.8 writes it with the msgpack parser."""
    wire: dict[str, Any] = {"type": type_}
    if data is not None:
        wire["data"] = data
    if type_ == 2:
        wire["options"] = {"compress": True}
    if id_ is not None:
        wire["id"] = id_
    wire["nsp"] = nsp
    return pack(wire)


def mask_sid(message: bytes) -> bytes:
    """``message`` with the Socket.IO sid of a CONNECT answer replaced by x's (same length)."""
    wire = msgpack.unpackb(message, ext_hook=msgpack.ExtType)
    data = wire.get("data")
    if wire.get("type") == 0 and isinstance(data, dict) and isinstance(data.get("sid"), str):
        sid = data["sid"].encode()
        return message.replace(sid, b"x" * len(sid))
    return message


def mask_payload(text: str) -> str:
    """A polling payload with each binary packet's sid masked."""
    out = []
    for packet in text.split("\x1e"):
        if packet.startswith("b4"):
            raw = base64.b64decode(packet[1:])
            packet = "b" + base64.b64encode(raw[:1] + mask_sid(raw[1:])).decode()
        elif packet.startswith("b"):
            packet = "b" + base64.b64encode(mask_sid(base64.b64decode(packet[1:]))).decode()
        out.append(ENGINE_SID.sub('"sid":"<sid>"', packet))
    return "\x1e".join(out)


def b64(message: bytes) -> str:
    return "b" + base64.b64encode(message).decode()


ECHO = ["echo", b"\x01\x02", {"a": [1, 2.5, None, True, "é"], "bin": b""}]
BIG = ["echo", b"\xff" * 70000, "x" * 300]


@pytest.fixture(scope="module")
def node_port() -> Iterator[int]:
    """A Node socket.io 4.8 server with socket.io-msgpack-parser (tests/node/sio_server.js)."""
    proc = subprocess.Popen(
        ["node", str(ROOT / "tests" / "node" / "sio_server.js"), '{"parser": "msgpack"}'],
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
    io = Server(parser="msgpack")
    io.on("echo", lambda socket, *args: args)

    def refuse(socket: Socket) -> None:
        raise ConnectionRefused("not allowed", {"code": 42})

    io.of("/refused").use(refuse)
    await io.listen("127.0.0.1", 0)
    try:
        yield io.listener.port
    finally:
        await io.close()


async def polling_transcript(port: int) -> list[Any]:
    base = f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
    out: list[Any] = []
    async with httpx.AsyncClient(timeout=WAIT) as http:
        opened = await http.get(base)
        out.append((opened.status_code, mask_payload(opened.text)))
        url = f"{base}&sid={json.loads(opened.text[1:])['sid']}"

        async def post(*packets: bytes) -> None:
            posted = await http.post(url, content="\x1e".join(b64(p) for p in packets))
            out.append((posted.status_code, posted.text))

        async def poll() -> None:
            polled = await http.get(url)
            out.append((polled.status_code, polled.headers["content-type"]))
            out.append(mask_payload(polled.text))

        await post(client_packet(0))
        await poll()
        await post(client_packet(2, ECHO, 1))
        await poll()
        await post(client_packet(2, ["echo", "a"], 2), client_packet(2, ["echo", b"\x00"], 3))
        await poll()
        await post(client_packet(2, BIG, 4))
        await poll()
        await post(client_packet(0, nsp="/refused"))
        await poll()
    return out


async def test_polling_answers_like_node(node_port: int, python_port: int) -> None:
    expected = await polling_transcript(node_port)
    # Node's answers: base64 binary packets, two acks of one POST in one answer
    assert expected[6].startswith("b") and expected[9].count("\x1eb") == 1
    assert await polling_transcript(python_port) == expected


async def websocket_transcript(port: int) -> list[Any]:
    out: list[Any] = []
    url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
    async with ws_connect(url, max_size=None) as ws:
        out.append(ENGINE_SID.sub("", str(await asyncio.wait_for(ws.recv(), WAIT))))
        for packet in (
            client_packet(0),
            client_packet(2, ECHO, 1),
            client_packet(2, BIG, 2),
            client_packet(0, nsp="/refused"),
            client_packet(0, nsp="/nope"),
        ):
            await ws.send(packet)  # a binary frame is one binary MESSAGE, no type byte
            frame = await asyncio.wait_for(ws.recv(), WAIT)
            assert isinstance(frame, bytes)
            out.append(mask_sid(frame))
    # Node's Client writes its own refusals ("Invalid namespace") with the keys in another
    # order (type, nsp, data): the same map, compared as such
    out[-1] = msgpack.unpackb(out[-1])
    return out


async def test_websocket_answers_like_node(node_port: int, python_port: int) -> None:
    assert await websocket_transcript(python_port) == await websocket_transcript(node_port)
