"""The chat of ``roomcast serve``: JWT users, a room per user id, join/leave, relayed messages.

On connection the client gets ``welcome`` ``{"id", "name"}`` (its user). Connection state
recovery is on: a client back within two minutes keeps its rooms and gets the messages it missed
(``welcome`` gives it the offset to recover from before any message arrives).

Events (every one answers the client's ack):

- ``join(roomName)`` / ``leave(roomName)`` -> ``{"status": "ok"}``
- ``message({"message", "roomName"})`` -> everyone else in the room gets ``message`` with
  ``{"name", "id", "message"}``; the sender gets ``{"status": "ok"}``. An invalid payload (missing
  or non-string fields, a message over 10,000 characters, a room the sender has not joined) gets
  ``{"status": "error", "error": "..."}`` and nothing is sent.

``GET /`` serves the chat page and ``GET <path>socket.io.js`` the official client.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from roomcast.apps.files import CLIENT_FILES, ClientFiles, StaticFile
from roomcast.auth.jwt import jwt_auth
from roomcast.errors import ConnectionRefused
from roomcast.socketio.recovery import RecoveryOptions
from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket

__all__ = ["MAX_MESSAGE", "MAX_ROOM_NAME", "create_app"]

logger = logging.getLogger("roomcast.chat")

MAX_MESSAGE = 10_000
"""The longest message relayed, in characters."""
MAX_ROOM_NAME = 200
"""The longest room name accepted, in characters."""

OK = {"status": "ok"}
DEFAULT_PATH = "/socket.io/"


def _error(text: str) -> dict[str, str]:
    return {"status": "error", "error": text}


def _user(socket: Socket) -> dict[str, Any]:
    user: dict[str, Any] = socket.data["user"]
    return user


async def require_user(socket: Socket) -> None:
    """Refuse a token whose claims lack a usable ``id`` (string or integer)."""
    user_id = _user(socket).get("id")
    if isinstance(user_id, bool) or not isinstance(user_id, str | int) or user_id == "":
        raise ConnectionRefused("jwt has no user id")


def on_connection(socket: Socket) -> None:
    """Put the socket in the room of its user id and welcome it (a recovered socket is back
    in its rooms already)."""
    user = _user(socket)
    if socket.recovered:
        logger.info("user %s reconnected, socket %s recovered", user["id"], socket.id)
        return
    socket.join(str(user["id"]))
    socket.emit("welcome", {"id": user["id"], "name": _name(user)})
    logger.info("user %s (%s) connected, socket %s", user["id"], _name(user), socket.id)


def on_disconnect(socket: Socket, reason: str) -> None:
    """Log who left and why."""
    logger.info("user %s disconnected, socket %s: %s", _user(socket)["id"], socket.id, reason)


def _room_error(room: Any) -> str | None:
    if not isinstance(room, str):
        return "roomName must be a string"
    if not room:
        return "roomName must not be empty"
    if len(room) > MAX_ROOM_NAME:
        return f"roomName is longer than {MAX_ROOM_NAME} characters"
    return None


def on_join(socket: Socket, room: Any = None, *_: Any) -> dict[str, str]:
    """Join ``room``."""
    error = _room_error(room)
    if error is None:
        socket.join(room)
    return _error(error) if error else OK


def on_leave(socket: Socket, room: Any = None, *_: Any) -> dict[str, str]:
    """Leave ``room`` (leaving a room one is not in is fine)."""
    error = _room_error(room)
    if error is None:
        socket.leave(room)
    return _error(error) if error else OK


def on_message(socket: Socket, payload: Any = None, *_: Any) -> dict[str, str]:
    """Relay ``payload["message"]`` to the others in ``payload["roomName"]``."""
    if not isinstance(payload, dict):
        return _error("payload must be an object with message and roomName")
    message, room = payload.get("message"), payload.get("roomName")
    if not isinstance(message, str):
        return _error("message must be a string")
    if len(message) > MAX_MESSAGE:
        return _error(f"message is longer than {MAX_MESSAGE} characters")
    error = _room_error(room)
    if error:
        return _error(error)
    if room not in socket.rooms:
        return _error("join the room before sending to it")
    user = _user(socket)
    socket.to(room).emit("message", {"name": _name(user), "id": user["id"], "message": message})
    return OK


def _name(user: dict[str, Any]) -> str:
    name = user.get("name")
    return name if isinstance(name, str) and name else str(user["id"])


def create_app(
    *,
    jwt_secret: str | bytes,
    algorithms: Iterable[str] = ("HS256",),
    cors_origins: str | list[str] | None = None,
    **server_options: Any,
) -> Server:
    """Make the chat server: JWT-authenticated sockets, the page on ``/``, the client script.

    ``jwt_secret`` verifies the tokens (an HMAC secret, or a PEM public key with ``algorithms``
    such as ``["RS256"]``); ``server_options`` go to :class:`~roomcast.socketio.server.Server`
    (``path``, ``ping_interval``...). Connection state recovery is on with Node's defaults
    (``connection_state_recovery=None`` turns it off).
    """
    server_options.setdefault("connection_state_recovery", RecoveryOptions())
    io = Server(cors_origins=cors_origins, **server_options)
    io.use(jwt_auth(jwt_secret, algorithms))
    io.use(require_user)
    io.on("connection", on_connection)
    io.on("disconnect", on_disconnect)
    io.on("join", on_join)
    io.on("leave", on_leave)
    io.on("message", on_message)
    add_routes(io, str(server_options.get("path", DEFAULT_PATH)))
    return io


def add_routes(io: Server, path: str) -> None:
    """Serve the page on ``/`` and the official client under the engine ``path``."""
    path = "/" + path.strip("/") + "/"
    listener = io.listener
    replace = {} if path == DEFAULT_PATH else {DEFAULT_PATH: path}
    listener.route("GET", "/", StaticFile("index.html", replace))
    listener.route("GET", "/index.html", StaticFile("index.html", replace))
    for name in ("chat.css", "chat.js"):
        listener.route("GET", "/" + name, StaticFile(name))
    client = ClientFiles()
    for name in CLIENT_FILES:
        listener.route("GET", path + name, client.handler(name))
