"""Baseline: the chat of ``roomcast serve`` on a bare `websockets` relay (see ws_relay.py) speaking
just enough Engine.IO/Socket.IO: the HS256 token of the CONNECT packet checked by PyJWT, a room per
user id, join/leave/message acked as the seed chat does, one log line per connection and
disconnection. The ceiling of this stack for the chat: no Socket.IO layer at all."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import sys
from typing import Any

import jwt
import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

SECRET = os.environ["ROOMCAST_JWT_SECRET"]
MAX_MESSAGE = 10_000
MAX_ROOM_NAME = 200
OK = [{"status": "ok"}]
OPEN = "0" + json.dumps(
    {"sid": "", "upgrades": [], "pingInterval": 25000, "pingTimeout": 20000, "maxPayload": 1000000}
)
logger = logging.getLogger("chat")
rooms: dict[str, set[ServerConnection]] = {}


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def room_error(room: Any) -> str | None:
    if not isinstance(room, str):
        return "roomName must be a string"
    if not room:
        return "roomName must not be empty"
    if len(room) > MAX_ROOM_NAME:
        return f"roomName is longer than {MAX_ROOM_NAME} characters"
    return None


def authenticate(packet: str) -> dict[str, Any]:
    """The user of a CONNECT packet's token; ValueError (the refusal's message) if none."""
    auth = json.loads(packet[2:]) if len(packet) > 2 else None
    token = auth.get("token") if isinstance(auth, dict) else None
    if not token:
        raise ValueError("missing token")
    try:
        user: dict[str, Any] = jwt.decode(token, SECRET, algorithms=["HS256"])
    except jwt.PyJWTError as exc:
        raise ValueError(str(exc)) from None
    user_id = user.get("id")
    if isinstance(user_id, bool) or not isinstance(user_id, str | int) or user_id == "":
        raise ValueError("jwt has no user id")
    return user


def relay(ws: ServerConnection, joined: set[str], user: dict[str, Any], args: list[Any]) -> Any:
    """Run one chat event; return its ack arguments."""
    event, payload = args[0], args[1] if len(args) > 1 else None
    if event in ("join", "leave"):
        error = room_error(payload)
        if error:
            return [{"status": "error", "error": error}]
        if event == "join":
            joined.add(payload)
            rooms.setdefault(payload, set()).add(ws)
        elif payload in joined:
            joined.discard(payload)
            rooms[payload].discard(ws)
        return OK
    if event != "message":
        return None
    if not isinstance(payload, dict):
        error = "payload must be an object with message and roomName"
        return [{"status": "error", "error": error}]
    text, room = payload.get("message"), payload.get("roomName")
    error = room_error(room)
    if not isinstance(text, str):
        error = "message must be a string"
    elif len(text) > MAX_MESSAGE:
        error = f"message is longer than {MAX_MESSAGE} characters"
    elif error is None and room not in joined:
        error = "join the room before sending to it"
    if error:
        return [{"status": "error", "error": error}]
    name = user.get("name") or str(user["id"])
    out = '42["message",' + dumps({"name": name, "id": user["id"], "message": text}) + "]"
    broadcast([c for c in rooms[room] if c is not ws], out)
    return OK


async def handler(ws: ServerConnection) -> None:
    await ws.send(OPEN)
    joined: set[str] = set()
    user: dict[str, Any] = {}
    sid = secrets.token_urlsafe(15)
    try:
        async for message in ws:
            if not isinstance(message, str):
                continue
            if message.startswith("40"):
                try:
                    user = authenticate(message)
                except ValueError as exc:
                    await ws.send("44" + dumps({"message": str(exc)}))
                    continue
                joined.add(str(user["id"]))
                rooms.setdefault(str(user["id"]), set()).add(ws)
                await ws.send('40{"sid":"' + sid + '"}')
                logger.info("user %s connected, socket %s", user["id"], sid)
            elif message.startswith("42") and user:
                body = message[2:]
                i = 0
                while body[i].isdigit():
                    i += 1
                result = relay(ws, joined, user, json.loads(body[i:]))
                if body[:i] and result is not None:
                    await ws.send("43" + body[:i] + dumps(result))
    except ConnectionClosed:
        pass
    finally:
        for room in joined:
            members = rooms.get(room)
            if members is not None:
                members.discard(ws)
                if not members:
                    del rooms[room]
        if user:
            logger.info("user %s disconnected, socket %s", user["id"], sid)


async def main(port: int) -> None:
    async with serve(
        handler, "127.0.0.1", port, ping_interval=None, compression=None, max_queue=None
    ):
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )
    uvloop.run(main(int(sys.argv[1])))
