"""A roomcast server with the Redis Streams adapter, run as a process of its own so a test can
``kill -9`` it. argv: REDIS_URL OPTIONS_JSON (``redis_streams_adapter`` keywords) RECOVERY_SECONDS.
Prints ``{"port": n}`` once listening.

Until the Socket.IO layer issues private ids, the middleware gives each socket one (the adapter
keeps the session of a socket with a private id in Redis while it is connected).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys

from roomcast.rooms.redis_streams import redis_streams_adapter
from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket


async def main() -> None:
    url, options, recovery = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3])
    io = Server(adapter=redis_streams_adapter(url, **options))
    io.sockets.recovery_window = recovery

    def issue_pid(socket: Socket) -> None:
        if socket.pid is None:
            socket.pid = secrets.token_hex(8)
        socket.data["server"] = "py-app"

    io.use(issue_pid)

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
