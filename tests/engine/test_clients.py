"""Real clients: python-engineio's AsyncClient and Node's engine.io-client, every transport."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import engineio
import pytest

from roomcast.engine.session import Session
from tests.conftest import ROOT

from .conftest import PATH, TIMEOUT, EchoServer, until

COUNT = 1000


async def run_python_client(server: EchoServer, transports: list[str] | None) -> None:
    client = engineio.AsyncClient()
    received: asyncio.Queue[str | bytes] = asyncio.Queue()

    @client.on("message")
    async def on_message(data: str | bytes) -> None:
        await received.put(data)

    server_got: list[str | bytes] = []
    sent_by_server = COUNT

    async def on_connection_task(session: Session) -> None:
        # The server talks while the client may be upgrading: spread over loop iterations.
        for i in range(sent_by_server):
            session.send(f"s{i}")
            if i % 50 == 0:
                await asyncio.sleep(0)

    tasks: list[asyncio.Task[None]] = []

    def on_connection(session: Session) -> None:
        session.on_message = server_got.append
        tasks.append(asyncio.ensure_future(on_connection_task(session)))

    server.engine.on_connection = on_connection
    server.engine._handlers["connection"].clear()
    await client.connect(
        f"http://127.0.0.1:{server.port}", engineio_path=PATH, transports=transports
    )
    for i in range(COUNT):
        await client.send(f"c{i}")
    await client.send(b"\x00\xffbinary")
    texts = [await asyncio.wait_for(received.get(), TIMEOUT) for _ in range(sent_by_server)]
    assert texts == [f"s{i}" for i in range(sent_by_server)]
    await until(lambda: len(server_got) == COUNT + 1)
    assert server_got == [f"c{i}" for i in range(COUNT)] + [b"\x00\xffbinary"]
    session = next(iter(server.engine.sessions.values()))
    session.send(b"\x01\x02")
    assert await asyncio.wait_for(received.get(), TIMEOUT) == b"\x01\x02"
    expected = "polling" if transports == ["polling"] else "websocket"
    assert client.transport() == expected
    assert session.transport_name == expected
    await client.disconnect()


@pytest.mark.parametrize("transports", [["websocket"], ["polling"], None])
async def test_python_engineio_client(server: EchoServer, transports: list[str] | None) -> None:
    await run_python_client(server, transports)


async def run_node_client(node: str, server: EchoServer, transports: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        node,
        str(ROOT / "tests" / "node" / "engine_client.js"),
        f"http://127.0.0.1:{server.port}",
        PATH,
        transports,
        str(COUNT),
        stdout=asyncio.subprocess.PIPE,
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), 30)
    report: dict[str, Any] = json.loads(stdout)
    return report


@pytest.mark.parametrize(
    ("transports", "final"),
    [("websocket", "websocket"), ("polling", "polling"), ("polling,websocket", "websocket")],
)
async def test_node_engine_io_client(
    node: str, server: EchoServer, transports: str, final: str
) -> None:
    report = await run_node_client(node, server, transports)
    assert report["error"] is None
    assert report["texts"] == [f"m{i}" for i in range(COUNT)]
    assert report["binaries"] == [[i % 256, 0xFF] for i in range(COUNT)]
    assert report["transport"] == final
    assert report["upgraded"] == (transports == "polling,websocket")
