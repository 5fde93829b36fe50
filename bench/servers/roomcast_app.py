"""roomcast running the benchmark app (see bench/loadgen.js).

``python bench/servers/roomcast_app.py [--recovery] PORT``: ``--recovery`` turns connection state
recovery on (default options); $BENCH_PARSER: the parser; $BENCH_LOOP and $BENCH_GC_THRESHOLD:
see below."""

from __future__ import annotations

import os
import sys
from typing import Any

from roomcast.runtime import GC_THRESHOLD
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
    # as a user's io.run(): uvloop when installed and the GC policy, unless $BENCH_LOOP or
    # $BENCH_GC_THRESHOLD (0: Python's collector as it is) say otherwise, to measure each
    threshold = int(os.environ.get("BENCH_GC_THRESHOLD", GC_THRESHOLD or 0)) or None
    io.run(
        "127.0.0.1",
        int(sys.argv[-1]),
        loop=os.environ.get("BENCH_LOOP", "auto"),
        gc_threshold=threshold,
    )
