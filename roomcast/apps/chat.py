"""The chat of ``roomcast serve``: JWT users, a room per user id, join/leave, relayed messages.

On connection the client gets ``welcome`` ``{"id", "name"}`` (its user). Connection state
recovery is on: a client back within two minutes keeps its rooms and gets the messages it missed
(``welcome`` gives it the offset to recover from before any message arrives).

Events (every one answers the client's ack):

- ``join(roomName)`` / ``leave(roomName)`` -> ``{"status": "ok"}``; joining another user's own
  room (named after their id) or another socket's id room gets ``{"status": "error", "error":
  "forbidden room"}``: those rooms carry what is meant for that user or socket alone. A room that
  was nobody's when joined is taken back from the others when its user connects.
- ``message({"message", "roomName"})`` -> everyone else in the room gets ``message`` with
  ``{"name", "id", "message"}``; the sender gets ``{"status": "ok"}``. An invalid payload (missing
  or non-string fields, a message over 10,000 characters, a room the sender has not joined) gets
  ``{"status": "error", "error": "..."}`` and nothing is sent.

``GET /`` serves the chat page and ``GET <path>socket.io.js`` the official client.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterable
from typing import Any

from roomcast.apps.files import StaticFile
from roomcast.auth.jwt import jwt_auth
from roomcast.errors import ConnectionRefused
from roomcast.rooms.adapter import RequestTimeout
from roomcast.rooms.memory import MemoryAdapter
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


def require_user(socket: Socket) -> None:
    """Refuse a token whose claims lack a usable ``id`` (string or integer)."""
    user_id = _user(socket).get("id")
    if isinstance(user_id, bool) or not isinstance(user_id, str | int) or user_id == "":
        raise ConnectionRefused("jwt has no user id")


def on_connection(socket: Socket) -> Awaitable[None] | None:
    """Put the socket in the room of its user id (taking that room back from other users) and
    welcome it; a recovered socket is back in its rooms already."""
    user = _user(socket)
    if socket.recovered:
        logger.info("user %s reconnected, socket %s recovered", user["id"], socket.id)
        return None
    room = str(user["id"])
    for other in _local_members(socket, room):
        if _owner(other) != room:
            other.leave(room)
    socket.join(room)
    socket.emit("welcome", {"id": user["id"], "name": _name(user)})
    logger.info("user %s (%s) connected, socket %s", user["id"], _name(user), socket.id)
    return None if _is_local(socket) else _evict_remote(socket, room)


async def _evict_remote(socket: Socket, room: str) -> None:
    for other in await socket.nsp.in_(room).fetch_sockets():
        if _owner(other) != room:
            other.leave(room)


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


FORBIDDEN = _error("forbidden room")


def _owner(socket: Any) -> str | None:
    """The user id of a local or remote socket, as its own room's name."""
    data = socket.data
    user = data.get("user") if isinstance(data, dict) else None
    user_id = user.get("id") if isinstance(user, dict) else None
    return None if user_id is None else str(user_id)


def _is_local(socket: Socket) -> bool:
    """Whether the namespace's rooms live on this server only (no cluster adapter)."""
    return type(socket.nsp.adapter) is MemoryAdapter


def _local_members(socket: Socket, room: str) -> list[Socket]:
    sockets = socket.nsp.sockets
    return [sockets[sid] for sid in socket.nsp.adapter.sockets((room,)) if sid in sockets]


def _owned_by_another(socket: Socket, room: str, members: Iterable[Any]) -> bool:
    """Whether ``room`` is another socket's id room or another user's own room."""
    if room in (socket.id, str(_user(socket)["id"])):
        return False
    return any(other.id == room or _owner(other) == room for other in members)


def on_join(
    socket: Socket, room: Any = None, *_: Any
) -> dict[str, str] | Awaitable[dict[str, str]]:
    """Join ``room``, unless it is another user's or another socket's own room."""
    error = _room_error(room)
    if error is not None:
        return _error(error)
    if room in socket.nsp.sockets and room != socket.id:
        return FORBIDDEN
    if _owned_by_another(socket, room, _local_members(socket, room)):
        return FORBIDDEN
    if not _is_local(socket):
        return _join_in_cluster(socket, room)
    socket.join(room)
    return OK


async def _join_in_cluster(socket: Socket, room: str) -> dict[str, str]:
    try:
        members = await socket.nsp.in_(room).fetch_sockets()
    except RequestTimeout:
        return _error("the other servers did not answer: try again")
    if _owned_by_another(socket, room, members):
        return FORBIDDEN
    socket.join(room)
    return OK


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
    require: Iterable[str] = ("exp",),
    **server_options: Any,
) -> Server:
    """Make the chat server: JWT-authenticated sockets, the page on ``/``, the client script.

    ``jwt_secret`` verifies the tokens (an HMAC secret, or a PEM public key with ``algorithms``
    such as ``["RS256"]``); ``require`` names the claims a token must have (by default ``exp``:
    tokens that never expire are refused; ``()`` admits them); ``server_options`` go to
    :class:`~roomcast.socketio.server.Server` (``path``, ``ping_interval``...). Connection state
    recovery is on with Node's defaults (``connection_state_recovery=None`` turns it off).
    """
    server_options.setdefault("connection_state_recovery", RecoveryOptions())
    io = Server(cors_origins=cors_origins, **server_options)
    io.use(jwt_auth(jwt_secret, algorithms, require=require))
    io.use(require_user)
    io.on("connection", on_connection)
    io.on("disconnect", on_disconnect)
    io.on("join", on_join)
    io.on("leave", on_leave)
    io.on("message", on_message)
    add_routes(io, str(server_options.get("path", DEFAULT_PATH)))
    return io


def add_routes(io: Server, path: str) -> None:
    """Serve the page on ``/`` (the Server serves the official client under ``path``)."""
    path = "/" + path.strip("/") + "/"
    listener = io.listener
    replace = {} if path == DEFAULT_PATH else {DEFAULT_PATH: path}
    listener.route("GET", "/", StaticFile("index.html", replace))
    listener.route("GET", "/index.html", StaticFile("index.html", replace))
    for name in ("chat.css", "chat.js", "favicon.svg"):
        listener.route("GET", "/" + name, StaticFile(name))
    listener.route("GET", "/favicon.ico", StaticFile("favicon.svg"))
