"""Lifespan under a real ASGI server: roomcast's adapters start before the app's startup code
and stop, after telling the clients, before its shutdown code; SIGTERM with clients connected
(a WebSocket, a long-poll waiting) ends the process promptly and cleanly."""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.socketio.conftest import PyClient

from .conftest import WAIT, AsgiServer


@pytest.mark.parametrize(
    ("server", "layout"), [("uvicorn", "mount"), ("uvicorn", "wrap"), ("hypercorn", "mount")]
)
async def test_sigterm_with_clients_connected(server: str, layout: str) -> None:
    # A long-poll GET is a request in progress: uvicorn waits for it before the lifespan
    # shutdown (up to a ping interval) unless told how long to wait (the README says so).
    extra = ["--timeout-graceful-shutdown", "2"] if server == "uvicorn" else []
    asgi = await asyncio.to_thread(AsgiServer, server, layout, *extra)
    try:
        await asyncio.to_thread(asgi.wait_for, "app startup")
        assert asgi.lines.index("adapter init /") < asgi.lines.index("app startup")
        clients = [PyClient(["websocket"]), PyClient(["polling"])]
        for client in clients:
            client.path = asgi.path
            await client.connect(asgi.url)
            assert await client.call("echo", "hi") == ["hi"]
        asgi.process.send_signal(signal.SIGTERM)
        status = await asyncio.to_thread(asgi.process.wait, WAIT * 2)
        # uvicorn re-raises the signal once shut down (-15); hypercorn exits 0
        assert status in (0, -signal.SIGTERM), asgi.log
        for client in clients:
            await client.reason()  # each client saw its connection end
        lines = asgi.lines
        assert lines.count("adapter close /") == 1
        assert lines.index("adapter close /") < lines.index("app shutdown")
        # every socket was disconnected server-side before the process ended
        assert len([line for line in lines if line.startswith("disconnect ")]) == 2, lines
        # nothing of roomcast in an error log (hypercorn logs its own cancelled readers)
        assert not [line for line in asgi.log if "/roomcast/" in line], asgi.log
    finally:
        asgi.stop()
