"""The benchmark app (see bench/loadgen.js) as an ASGI app under uvicorn: roomcast's ASGIApp
(``roomcast``) or python-socketio's ASGIApp (``pysio``), same uvicorn, same settings.

``python bench/servers/asgi_app.py roomcast|pysio PORT``
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn


def roomcast_app() -> Any:
    # the very app of the roomcast rows (this directory is on sys.path: the script's own)
    from roomcast_app import io

    from roomcast.asgi import ASGIApp

    return ASGIApp(io)


def pysio_app() -> Any:
    import socketio  # type: ignore[import-untyped]

    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")

    @sio.on("join")  # type: ignore[misc]
    async def join(sid: str, room: str) -> None:
        await sio.enter_room(sid, room)

    @sio.on("fanout")  # type: ignore[misc]
    async def fanout(sid: str, payload: Any) -> None:
        await sio.emit("msg", payload, to="bench")

    @sio.on("echo")  # type: ignore[misc]
    async def echo(sid: str, payload: Any) -> Any:
        return payload

    return socketio.ASGIApp(sio)


if __name__ == "__main__":
    app = roomcast_app() if sys.argv[1] == "roomcast" else pysio_app()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[2]),
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        log_level="warning",
        access_log=False,
        ws_ping_interval=None,
    )
