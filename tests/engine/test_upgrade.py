"""Polling -> WebSocket upgrade, raw: probe, noop release, upgrade, and what is refused after."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from .conftest import (
    TIMEOUT,
    EchoServer,
    MakeServer,
    handshake,
    poll_pending,
    polling,
    post_and_poll,
    probe,
    recv,
    until,
    ws_connect,
)


async def test_upgrade_dance(server: EchoServer, http: httpx.AsyncClient) -> None:
    sid = await handshake(http, server.url)
    session = server.sessions[sid]
    poll = asyncio.ensure_future(http.get(server.url, params=polling(sid)))
    await until(poll_pending(server, sid))
    ws = await ws_connect(server.url, sid=sid)
    await ws.send("2probe")
    assert await recv(ws) == "3probe"
    # The pending poll is released with a noop so the client can pause polling.
    assert (await asyncio.wait_for(poll, TIMEOUT)).text == "6"
    assert session.transport_name == "polling"
    session.send("queued during upgrade")
    session.send(b"\x01")
    await ws.send("5")
    assert await recv(ws) == "4queued during upgrade"
    assert await recv(ws) == b"\x01"
    assert session.transport_name == "websocket"
    await ws.send("4after")
    assert await recv(ws) == "4after"
    # Polling on the upgraded session is refused, the session stays up.
    for method in ("GET", "POST"):
        refused = await http.request(method, server.url, params=polling(sid), content=b"4x")
        assert refused.json() == {"code": 3, "message": "Bad request"}
    # So is a second WebSocket on the same sid.
    second = await ws_connect(server.url, sid=sid)
    with pytest.raises(ConnectionClosed):
        await recv(second)
    await ws.send("4still")
    assert await recv(ws) == "4still"
    await ws.close()
    assert await server.close_reason(sid) == "transport close"


async def test_probe_before_poll_releases_next_poll(
    server: EchoServer, http: httpx.AsyncClient
) -> None:
    sid = await handshake(http, server.url)
    ws = await probe(server.url, sid)
    assert (await http.get(server.url, params=polling(sid))).text == "6"
    await ws.send("5")
    await ws.send("4x")
    assert await recv(ws) == "4x"
    await ws.close()


async def test_second_websocket_during_upgrade_refused(
    server: EchoServer, http: httpx.AsyncClient
) -> None:
    sid = await handshake(http, server.url)
    ws = await probe(server.url, sid)
    second = await ws_connect(server.url, sid=sid)
    with pytest.raises(ConnectionClosed):
        await recv(second)
    await ws.send("5")
    await ws.send("4ok")
    assert await recv(ws) == "4ok"
    await ws.close()


async def test_upgrade_timeout_keeps_polling(
    make_server: MakeServer, http: httpx.AsyncClient
) -> None:
    server = await make_server(upgrade_timeout=0.2)
    sid = await handshake(http, server.url)
    ws = await ws_connect(server.url, sid=sid)
    with pytest.raises(ConnectionClosed):
        await recv(ws)  # no probe sent: closed after upgrade_timeout
    assert await post_and_poll(http, server.url, sid, "poll") == "4poll"
    assert server.sessions[sid].transport_name == "polling"


async def test_unexpected_packet_aborts_upgrade_only(
    server: EchoServer, http: httpx.AsyncClient
) -> None:
    sid = await handshake(http, server.url)
    ws = await ws_connect(server.url, sid=sid)
    await ws.send("4not a probe")
    with pytest.raises(ConnectionClosed):
        await recv(ws)
    assert await post_and_poll(http, server.url, sid, "poll") == "4poll"
    # The session can still upgrade later.
    ws = await probe(server.url, sid)
    await ws.close()
    assert await post_and_poll(http, server.url, sid, "again") == "4again"


async def test_session_close_during_upgrade(server: EchoServer, http: httpx.AsyncClient) -> None:
    sid = await handshake(http, server.url)
    ws = await probe(server.url, sid)
    server.sessions[sid].close()
    # As with Node, the upgrade is not cut short: a client still polling learns of the close on
    # its next GET, and only then is the probe dropped (one that sends "5" gets the queue and the
    # close on the WebSocket instead: see the differential scenario close_during_upgrade).
    assert (await http.get(server.url, params=polling(sid))).text == "6\x1e1"
    with pytest.raises(ConnectionClosed):
        await recv(ws)
    assert await server.close_reason(sid) == "forced close"
