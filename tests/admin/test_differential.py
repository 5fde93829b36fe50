"""The same admin client (socket.io-client on /admin, as the UI) against Node's socket.io with
@socket.io/admin-ui's instrument() and against roomcast's: the same events, the same payload
shapes, the same answers to its actions."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator

import pytest

from roomcast.admin import BasicAuth, instrument
from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket
from tests.conftest import NODE_MODULES, ROOT
from tests.waiting import end_process

from .conftest import HASH, USERNAME, admin_client

CORE = {"rawConnection", "packetsIn", "packetsOut", "bytesIn", "bytesOut"}


@pytest.fixture
async def node_url(node: str) -> AsyncIterator[str]:
    options = json.dumps({"username": USERNAME, "hash": HASH})
    process = await asyncio.create_subprocess_exec(
        node, str(ROOT / "tests" / "node" / "admin_server.js"), options,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT,
        env={**os.environ, "NODE_MODULES": str(NODE_MODULES)},
    )  # fmt: skip
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 20)
    try:
        yield f"http://127.0.0.1:{json.loads(line)['port']}"
    finally:
        await end_process(process)


@pytest.fixture
async def roomcast_url(port: int) -> AsyncIterator[str]:
    io = Server()

    @io.on("connection")
    def connected(socket: Socket) -> None:
        @socket.on("join")
        def join(room: str) -> str:
            socket.join(room)
            return "ok"

        @socket.on("hello")
        def hello() -> None:
            socket.emit("hello-back", "hi", 1)

    instrument(io, auth=BasicAuth(USERNAME, HASH), mode="development", server_id="roomcast")
    async with io.serve("127.0.0.1", port):
        yield f"http://127.0.0.1:{port}"


async def test_same_events_and_shapes_as_node(node: str, node_url: str, roomcast_url: str) -> None:
    reference, ours = await asyncio.gather(
        admin_client(node, node_url), admin_client(node, roomcast_url)
    )
    assert reference["refused"] == ours["refused"] == "invalid credentials"
    assert reference["join"] == ours["join"] == "ok"
    assert reference["back"] == ours["back"] == ["hi", 1]
    assert reference["kicked"] == ours["kicked"] == "io server disconnect"
    assert set(reference["order"]) == set(ours["order"])
    assert sorted(reference["events"]) == sorted(ours["events"])
    for event, shapes in reference["events"].items():
        assert ours["events"][event] == shapes, event
    for report in (reference, ours):
        assert set(report["aggregated"]) >= CORE
        assert any(kind.startswith("rawDisconnection:") for kind in report["aggregated"])
