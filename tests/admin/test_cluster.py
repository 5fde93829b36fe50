"""The Admin UI over a Redis cluster: each server reports itself, the UI sees them all, their
sockets and can act on a socket of another server (as with Node's)."""

from __future__ import annotations

import asyncio
from typing import Any

import socketio

from roomcast.admin import BasicAuth, instrument
from tests.redis.conftest import RedisServer, ServerFactory, wait_servers
from tests.waiting import until

from .conftest import HASH, PASSWORD, USERNAME
from .test_instrument import AdminClient


async def test_ui_sees_every_server_and_its_sockets(
    servers: ServerFactory, redis_server: RedisServer, key: str
) -> None:
    a, b = await servers("a"), await servers("b")
    for io, name in ((a, "server-a"), (b, "server-b")):
        instrument(io, auth=BasicAuth(USERNAME, HASH), server_id=name)
    await wait_servers(redis_server.url, f"{key}-request#/admin#", 2)
    app = socketio.AsyncClient(reconnection=False)
    admin = AdminClient()
    try:
        await app.connect(f"http://127.0.0.1:{b.listener.port}", auth={"user": "on-b"})
        assert await app.call("join", "lobby", timeout=10) == "joined"
        gone: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        app.on("disconnect", lambda *reason: gone.done() or gone.set_result(reason))
        await admin.connect(
            f"http://127.0.0.1:{a.listener.port}", username=USERNAME, password=PASSWORD
        )

        def reporting() -> set[str]:
            return {args[0]["serverId"] for name, args in admin.events if name == "server_stats"}

        await until(lambda: reporting() == {"server-a", "server-b"})
        await until(lambda: "all_sockets" in admin.names())
        (listed,) = admin.first("all_sockets")
        on_b = [s for s in listed if s["id"] == app.get_sid("/")]
        assert len(on_b) == 1
        assert on_b[0]["nsp"] == "/" and set(on_b[0]["rooms"]) == {on_b[0]["id"], "lobby"}
        assert on_b[0]["data"] == {"server": "b"}
        # the UI's disconnect button, on server a, for a socket of server b
        await admin.sio.emit("_disconnect", ("/", False, app.get_sid("/")), namespace="/admin")
        assert "server disconnect" in str(await asyncio.wait_for(gone, 10))
        # and server b tells the UI connected to server a
        await until(lambda: "socket_disconnected" in admin.names())
    finally:
        for client in (app, admin.sio):
            if client.connected:
                await client.disconnect()
