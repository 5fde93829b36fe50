"""The path rules of the README's ASGI section: the mount prefix, ``root_path``, trailing
slashes; and that roomcast.asgi imports no ASGI server or framework."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx
import pytest

from tests.conftest import ROOT
from tests.socketio.conftest import PyClient

from .conftest import AsgiServer

HANDSHAKE = {"EIO": "4", "transport": "polling"}


async def handshake(url: str, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url) as http:
        return await http.get(path, params=HANDSHAKE)


@pytest.mark.parametrize(
    ("layout", "extra", "served", "not_served"),
    [
        # app.mount("/ws", ASGIApp(io)): the mount prefix, then the engine path, slash or not
        (
            "mount",
            (),
            ["/ws/socket.io/", "/ws/socket.io"],
            ["/socket.io/", "/ws/socket.iox/", "/ws/socket.io/x"],
        ),
        # app.mount("/socket.io", ASGIApp(io, path="/")): the default path for clients
        ("root", (), ["/socket.io/"], ["/ws/socket.io/"]),
        # behind a proxy that strips /api (uvicorn --root-path /api): the path below it
        ("wrap", ("--root-path", "/api"), ["/socket.io/"], ["/api/other/"]),
    ],
)
async def test_where_roomcast_answers(
    layout: str, extra: tuple[str, ...], served: list[str], not_served: list[str]
) -> None:
    asgi = await asyncio.to_thread(AsgiServer, "uvicorn", layout, *extra)
    try:
        for path in served:
            answer = await handshake(asgi.url, path)
            assert answer.status_code == 200 and answer.text.startswith('0{"sid":'), path
        for path in not_served:
            assert (await handshake(asgi.url, path)).status_code == 404, path
        if layout == "root":
            client = PyClient(["polling"])  # default path, upgraded to a WebSocket
            await client.connect(asgi.url)
            assert await client.call("echo", "hi") == ["hi"]
            await client.disconnect()
    finally:
        asgi.stop()


def test_roomcast_asgi_imports_no_asgi_server_or_framework() -> None:
    code = (
        "import sys, roomcast.asgi, roomcast.socketio.server\n"
        "names = ('uvicorn', 'hypercorn', 'starlette', 'fastapi', 'granian')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in names))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
