"""The engine on uvloop (the ``fast`` extra): its transports are not asyncio's classes."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from .conftest import TIMEOUT, EchoServer, handshake, open_data, polling, probe, recv, ws_connect

uvloop = pytest.importorskip("uvloop")


async def scenario() -> None:
    server = await EchoServer().start()
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            sid = await handshake(http, server.url)
            ws = await probe(server.url, sid)
            assert (await http.get(server.url, params=polling(sid))).text == "6"
            await ws.send("5")
            await ws.send("4upgraded")
            assert await recv(ws) == "4upgraded"
            await ws.close()
        other = await ws_connect(server.url)
        open_data(str(await recv(other)))
        await other.send(b"\x01")
        assert await recv(other) == b"\x01"
        await other.close()
    finally:
        await server.listener.close(timeout=1.0)


def test_polling_upgrade_and_websocket_on_uvloop() -> None:
    uvloop.run(asyncio.wait_for(scenario(), 30))
