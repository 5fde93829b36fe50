"""SIGTERM with 1,000 connected clients: each sees its connection closed, the process exits."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from tests.chat.tokens import SECRET

from .conftest import NodeClients

CLIENTS = 1000
DEADLINE = 15.0
"""Seconds the server may take to exit after SIGTERM (its close timeout is 10 s)."""


async def test_sigterm_under_load(port: int, node: str) -> None:
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "roomcast",
        "serve",
        "--port",
        str(port),
        "--jwt-secret",
        SECRET,
        "--log-level",
        "warning",
        stdout=asyncio.subprocess.PIPE,
    )
    clients: NodeClients | None = None
    try:
        assert server.stdout is not None
        line = await asyncio.wait_for(server.stdout.readline(), 10)
        assert b"listening on" in line, line
        clients = await NodeClients.start(
            node, mode="hold", url=f"http://127.0.0.1:{port}", clients=CLIENTS, secret=SECRET
        )
        assert await clients.line(timeout=30) == f"ready {CLIENTS}"
        server.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(server.wait(), DEADLINE)
        result: dict[str, Any] = await clients.result()
    finally:
        if clients is not None:
            await clients.stop()
        if server.returncode is None:
            server.kill()
            await server.wait()
    assert code == 0
    assert result["ended"] == CLIENTS and result["refused"] == []
    # every client got the WebSocket close frame (1005: no status code), none a reset (1006)
    assert result["byKind"] == {"null/1005": CLIENTS}, result["byKind"]
