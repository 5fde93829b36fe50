"""Limits in ASGI mode, under uvicorn and hypercorn: a WebSocket message past ``max_payload``
closes the connection with 1009, as in the standalone mode."""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from .conftest import WAIT, AsgiServer


async def test_a_websocket_message_past_max_payload_closes_with_1009(asgi: AsgiServer) -> None:
    path = asgi.path or "/socket.io/"
    url = f"ws://127.0.0.1:{asgi.port}{path}?EIO=4&transport=websocket"
    async with connect(url, max_size=None) as ws:
        assert str(await ws.recv()).startswith("0{")
        await ws.send("4" + "x" * 1_000_001)  # max_payload is 1,000,000 bytes
        try:
            while True:
                await asyncio.wait_for(ws.recv(), WAIT)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1009
