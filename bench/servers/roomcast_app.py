"""roomcast running the benchmark app (see bench/loadgen.js).

``python bench/servers/roomcast_app.py [--recovery] PORT``: ``--recovery`` turns connection state
recovery on (default options); $BENCH_PARSER: the parser."""

from __future__ import annotations

import os
import sys
from typing import Any

from roomcast.socketio.recovery import RecoveryOptions
from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket

io = Server(
    connection_state_recovery=RecoveryOptions() if "--recovery" in sys.argv else None,
    parser=os.environ.get("BENCH_PARSER", "json"),
)


@io.on("join")
def join(socket: Socket, room: str) -> None:
    socket.join(room)


@io.on("fanout")
def fanout(socket: Socket, payload: Any) -> None:
    io.to("bench").emit("msg", payload)


@io.on("echo")
def echo(socket: Socket, payload: Any) -> Any:
    return payload


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    io.run("127.0.0.1", int(sys.argv[-1]))
