"""A roomcast server with the Redis Streams adapter, run as a process of its own so a test can
``kill -9`` it. argv: REDIS_URL OPTIONS_JSON (``redis_streams_adapter`` keywords) RECOVERY_SECONDS.
Prints ``{"port": n}`` once listening.
Connection state recovery is on (the Socket.IO layer gives each socket a private id, and the
adapter keeps the sessions of connected sockets in Redis).
"""

from __future__ import annotations

import asyncio
import json
import sys

from roomcast.rooms.redis_streams import redis_streams_adapter
from roomcast.socketio.recovery import RecoveryOptions
from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket


async def main() -> None:
    url, options, recovery = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3])
    io = Server(
        adapter=redis_streams_adapter(url, **options),
        connection_state_recovery=RecoveryOptions(max_disconnection_duration=recovery),
    )

    def remember(socket: Socket) -> None:
        socket.data["server"] = "py-app"

    io.use(remember)

    @io.on("join")
    def join(socket: Socket, room: str) -> str:
        socket.join(room)
        socket.data["joined"] = room
        return "joined"

    await io.listen("127.0.0.1", 0)
    print(json.dumps({"port": io.listener.port}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
