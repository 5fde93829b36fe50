"""roomcast mounted in a FastAPI app with a REST route, under uvicorn and hypercorn (real
processes), with python-socketio's and Node's socket.io-client (polling then upgrade, and
WebSocket only)."""

from __future__ import annotations

import httpx

from tests.socketio.conftest import ClientFactory, NodeClient

from .conftest import AsgiServer


async def test_rest_route_and_engine_io_share_the_port(asgi: AsgiServer) -> None:
    async with httpx.AsyncClient(base_url=asgi.url) as http:
        health = await http.get("/api/health")
        assert health.status_code == 200 and health.json()["ok"] is True
        handshake = await http.get("/ws/socket.io/", params={"EIO": "4", "transport": "polling"})
        assert handshake.status_code == 200 and handshake.text.startswith('0{"sid":')
        assert '"upgrades":["websocket"]' in handshake.text
        # FastAPI answers what is neither its route nor under roomcast's path
        assert (await http.get("/api/missing")).status_code == 404
        assert (await http.get("/ws/other/")).status_code == 404
        refused = await http.get("/ws/socket.io/", params={"EIO": "4", "transport": "carrier"})
        assert refused.status_code == 400
        assert refused.json() == {"code": 0, "message": "Transport unknown"}


async def test_echo_with_ack_and_a_server_event(asgi: AsgiServer, clients: ClientFactory) -> None:
    client = clients()
    client.path = asgi.path
    await client.connect(asgi.url)
    assert await client.next_event("welcome") == [client.sid]
    assert await client.call("echo", {"n": 1}, "two", b"\x00\x01") == [
        [{"n": 1}, "two", b"\x00\x01"]
    ]
    if isinstance(client, NodeClient):
        # polling-then-upgrade ends on a WebSocket, as in the standalone mode
        transport = await client.driver.command("transport", name=client.name)
        assert transport == "websocket"
    await client.disconnect()


async def test_room_broadcast_reaches_every_kind_of_client(
    asgi: AsgiServer, clients: ClientFactory
) -> None:
    members = [clients() for _ in range(3)]
    for member in members:
        member.path = asgi.path
        await member.connect(asgi.url)
        assert await member.call("join", "lobby") == ["lobby"]
    async with httpx.AsyncClient(base_url=asgi.url) as http:
        assert (await http.get("/api/health")).json()["sockets"] >= 3
    await members[0].emit("say", "lobby", "hello")
    for member in members:
        assert await member.next_event("said") == ["hello"]
