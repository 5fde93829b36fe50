"""roomcast with the Redis Streams adapter and connection state recovery, for bench/recovery.py.

``python bench/servers/roomcast_recovery.py REDIS_URL PORT``: "join"(room) joins and acks
"joined"; "publish"(room, seq) emits "msg"(seq) to the room and acks. SIGTERM closes gracefully
(``Server.run``)."""

from __future__ import annotations

import sys

from roomcast.rooms.redis_streams import redis_streams_adapter
from roomcast.socketio.recovery import RecoveryOptions
from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket

io = Server(
    adapter=redis_streams_adapter(sys.argv[1]),
    connection_state_recovery=RecoveryOptions(max_disconnection_duration=120),
)


@io.on("join")
def join(socket: Socket, room: str) -> str:
    socket.join(room)
    return "joined"


@io.on("publish")
def publish(socket: Socket, room: str, seq: int) -> int:
    io.to(room).emit("msg", seq)
    return seq


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    io.run("127.0.0.1", int(sys.argv[2]))
