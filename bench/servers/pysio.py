"""Baseline: python-socketio in its fastest setup (aiohttp + uvloop) running the benchmark app;
$BENCH_PARSER=msgpack: its msgpack serializer."""

from __future__ import annotations

import os
import sys
from typing import Any

import socketio  # type: ignore[import-untyped]
import uvloop
from aiohttp import web

SERIALIZER = "msgpack" if os.environ.get("BENCH_PARSER") == "msgpack" else "default"
sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*", serializer=SERIALIZER)
app = web.Application()
sio.attach(app)


@sio.on("join")  # type: ignore[misc]
async def join(sid: str, room: str) -> None:
    await sio.enter_room(sid, room)


@sio.on("fanout")  # type: ignore[misc]
async def fanout(sid: str, payload: Any) -> None:
    await sio.emit("msg", payload, to="bench")


@sio.on("echo")  # type: ignore[misc]
async def echo(sid: str, payload: Any) -> Any:
    return payload


if __name__ == "__main__":
    uvloop.install()
    print("ready", flush=True)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
