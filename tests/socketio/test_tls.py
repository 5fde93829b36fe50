"""TLS (https://, wss://) and reverse proxies (X-Forwarded-For), with Node's socket.io-client."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from roomcast.engine.http import Request
from roomcast.engine.listener import tls_context
from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket
from tests.certs import self_signed
from tests.conftest import NODE_MODULES, ROOT

from .conftest import WAIT


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[str, str]:
    return self_signed(tmp_path)


async def node_client(node: str, **options: Any) -> dict[str, Any]:
    """Run tests/node/tls_client.js once: its answer to "whoami"."""
    process = await asyncio.create_subprocess_exec(
        node,
        str(ROOT / "tests" / "node" / "tls_client.js"),
        json.dumps(options),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "NODE_MODULES": str(NODE_MODULES)},
    )
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), WAIT)
        await asyncio.wait_for(process.wait(), WAIT)  # it has sent its close: the server knows
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    result: dict[str, Any] = json.loads(line)
    return result


def whoami_server(**options: Any) -> tuple[Server, list[tuple[str, int] | None]]:
    """A server answering "whoami" with the socket's address and secure flag; the second item
    collects the addresses allow_request saw."""
    seen: list[tuple[str, int] | None] = []

    def allow(request: Request) -> bool:
        seen.append(request.remote_address)
        return True

    io = Server(allow_request=allow, **options)

    @io.on("whoami")
    def whoami(socket: Socket) -> dict[str, Any]:
        return {"address": socket.handshake.address, "secure": socket.handshake.secure}

    return io, seen


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], ["polling", "websocket"]])
async def test_https_and_wss(
    node: str, port: int, certificate: tuple[str, str], transports: list[str]
) -> None:
    certfile, keyfile = certificate
    io, seen = whoami_server()
    await io.listen("127.0.0.1", port, ssl=tls_context(certfile, keyfile))
    try:
        result = await node_client(
            node,
            url=f"https://127.0.0.1:{port}",
            transports=transports,
            ca=Path(certfile).read_text(),
        )
        assert result == {
            "transport": transports[-1],
            "answer": {"address": "127.0.0.1", "secure": True},
        }
        assert seen and seen[0] is not None and seen[0][0] == "127.0.0.1"
        # a client that does not trust the certificate does not connect
        refused = await node_client(node, url=f"https://127.0.0.1:{port}", transports=transports)
        assert "error" in refused
    finally:
        await io.close()


FORWARDED = {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"}


@pytest.mark.parametrize("transports", [["polling"], ["websocket"]])
async def test_forwarded_for_believed_from_trusted_proxy_only(
    node: str, port: int, transports: list[str]
) -> None:
    url = f"http://127.0.0.1:{port}"
    io, seen = whoami_server()
    await io.listen("127.0.0.1", port, forwarded_allow_ips="10.0.0.1, 127.0.0.1")
    try:
        result = await node_client(node, url=url, transports=transports, extraHeaders=FORWARDED)
        assert result["answer"] == {"address": "203.0.113.7", "secure": True}
        assert seen == [("203.0.113.7", 0)]
        # the client's own X-Forwarded-For, passed on by the proxy: the proxy's entry counts
        spoofed = {**FORWARDED, "x-forwarded-for": "198.51.100.1, 203.0.113.7"}
        result = await node_client(node, url=url, transports=transports, extraHeaders=spoofed)
        assert result["answer"]["address"] == "203.0.113.7"
    finally:
        await io.close()
    io, seen = whoami_server()  # by default, no proxy is trusted
    await io.listen("127.0.0.1", port)
    try:
        result = await node_client(node, url=url, transports=transports, extraHeaders=FORWARDED)
        assert result["answer"] == {"address": "127.0.0.1", "secure": False}
        assert seen[0] is not None and seen[0][0] == "127.0.0.1"
    finally:
        await io.close()
