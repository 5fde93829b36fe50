"""Baseline: the chat of ``roomcast serve`` (roomcast/apps/chat.py) on python-socketio (aiohttp +
uvloop), for the chat scenarios of bench/loadgen.js: HS256 tokens (secret: $ROOMCAST_JWT_SECRET)
checked by PyJWT at every handshake, a room per user id, join/leave/message acked as the seed chat
does, one log line per connection and disconnection."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import jwt
import socketio  # type: ignore[import-untyped]
import uvloop
from aiohttp import web

SECRET = os.environ["ROOMCAST_JWT_SECRET"]
MAX_MESSAGE = 10_000
MAX_ROOM_NAME = 200
OK = {"status": "ok"}
logger = logging.getLogger("chat")

sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*")
app = web.Application()
sio.attach(app)
users: dict[str, dict[str, Any]] = {}


def _error(text: str) -> dict[str, str]:
    return {"status": "error", "error": text}


def _room_error(room: Any) -> str | None:
    if not isinstance(room, str):
        return "roomName must be a string"
    if not room:
        return "roomName must not be empty"
    if len(room) > MAX_ROOM_NAME:
        return f"roomName is longer than {MAX_ROOM_NAME} characters"
    return None


def _name(user: dict[str, Any]) -> str:
    name = user.get("name")
    return name if isinstance(name, str) and name else str(user["id"])


@sio.event  # type: ignore[misc]
async def connect(sid: str, environ: Any, auth: Any = None) -> None:
    token = auth.get("token") if isinstance(auth, dict) else None
    if not token:
        raise socketio.exceptions.ConnectionRefusedError("missing token")
    try:
        user = jwt.decode(token, SECRET, algorithms=["HS256"])
    except jwt.PyJWTError as exc:
        raise socketio.exceptions.ConnectionRefusedError(str(exc)) from None
    user_id = user.get("id")
    if isinstance(user_id, bool) or not isinstance(user_id, str | int) or user_id == "":
        raise socketio.exceptions.ConnectionRefusedError("jwt has no user id")
    users[sid] = user
    await sio.enter_room(sid, str(user_id))
    logger.info("user %s (%s) connected, socket %s", user_id, _name(user), sid)


@sio.event  # type: ignore[misc]
async def disconnect(sid: str, reason: str = "") -> None:
    user = users.pop(sid, {})
    logger.info("user %s disconnected, socket %s: %s", user.get("id"), sid, reason)


@sio.event  # type: ignore[misc]
async def join(sid: str, room: Any = None, *_: Any) -> dict[str, str]:
    error = _room_error(room)
    if error is None:
        await sio.enter_room(sid, room)
    return _error(error) if error else OK


@sio.event  # type: ignore[misc]
async def leave(sid: str, room: Any = None, *_: Any) -> dict[str, str]:
    error = _room_error(room)
    if error is None:
        await sio.leave_room(sid, room)
    return _error(error) if error else OK


@sio.event  # type: ignore[misc]
async def message(sid: str, payload: Any = None, *_: Any) -> dict[str, str]:
    if not isinstance(payload, dict):
        return _error("payload must be an object with message and roomName")
    text, room = payload.get("message"), payload.get("roomName")
    if not isinstance(text, str):
        return _error("message must be a string")
    if len(text) > MAX_MESSAGE:
        return _error(f"message is longer than {MAX_MESSAGE} characters")
    error = _room_error(room)
    if error:
        return _error(error)
    if room not in sio.rooms(sid):
        return _error("join the room before sending to it")
    user = users[sid]
    await sio.emit(
        "message", {"name": _name(user), "id": user["id"], "message": text}, to=room, skip_sid=sid
    )
    return OK


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )
    uvloop.install()
    print("ready", flush=True)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
