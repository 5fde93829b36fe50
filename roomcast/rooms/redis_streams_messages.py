"""The wire format of Node's ``@socket.io/redis-streams-adapter`` 0.3, Sans-I/O.

For stream name ``socket.io``, channel prefix ``socket.io`` and namespace ``/chat``:

- one Redis stream, ``socket.io``, carries what must reach every server in order and can be
  replayed (broadcasts without acks, remote joins, leaves and disconnects). Each entry has the
  string fields ``uid``, ``nsp``, ``type`` (the message type in decimal) and ``data``: the
  message's data as JSON, or, for a broadcast whose data holds binary, as base64 of msgpack;
- ``socket.io#/chat#`` (pub/sub) carries the rest (broadcasts with acks, ``fetch_sockets``,
  server-side emits): each message a msgpack map ``{type, data, uid, nsp}``, and
  ``PUBSUB NUMSUB`` of it counts the servers;
- ``socket.io#/chat#<uid>#`` (pub/sub) carries the answers to server ``uid``, the same way;
- a disconnected socket's session is the string key ``sio:session:<pid>``: base64 of the
  msgpack map ``{sid, pid, rooms, data}``, with the recovery window as its expiry.

The stream entry ids are the offsets clients get as the last argument of recoverable events.
"""

from __future__ import annotations

import base64
import re
from enum import IntEnum
from typing import Any

from ..protocol import jsoncodec
from .adapter import BroadcastOptions, PersistedSession
from .redis_messages import decode_msgpack, encode_msgpack, strings

__all__ = [
    "MessageType",
    "decode_entry",
    "decode_session",
    "encode_entry",
    "encode_session",
    "has_binary",
    "is_offset",
    "next_offset",
    "reaches",
]


class MessageType(IntEnum):
    """The ``type`` of a message between servers (socket.io-adapter's ``MessageType``)."""

    INITIAL_HEARTBEAT = 1
    HEARTBEAT = 2
    BROADCAST = 3
    SOCKETS_JOIN = 4
    SOCKETS_LEAVE = 5
    DISCONNECT_SOCKETS = 6
    FETCH_SOCKETS = 7
    FETCH_SOCKETS_RESPONSE = 8
    SERVER_SIDE_EMIT = 9
    SERVER_SIDE_EMIT_RESPONSE = 10
    BROADCAST_CLIENT_COUNT = 11
    BROADCAST_ACK = 12
    ADAPTER_CLOSE = 13


def has_binary(value: Any) -> bool:
    """Whether ``value`` holds bytes somewhere (then Node writes the entry's data as msgpack)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return True
    if isinstance(value, list | tuple):
        return any(has_binary(v) for v in value)
    if isinstance(value, dict):
        return any(has_binary(v) for v in value.values())
    return False


def encode_entry(uid: str, nsp: str, kind: MessageType, data: Any) -> list[str | bytes]:
    """The field/value list of a stream entry (for ``XADD``)."""
    if kind is MessageType.BROADCAST and has_binary(data):
        text: str | bytes = base64.b64encode(encode_msgpack(data))
    else:
        text = jsoncodec.dumps(data)
    return ["uid", uid, "nsp", nsp, "type", str(int(kind)), "data", text]


def decode_entry(fields: dict[bytes, bytes]) -> tuple[str, str, int, Any] | None:
    """``(uid, nsp, type, data)`` of a stream entry read back; None if it is malformed."""
    try:
        uid = fields.get(b"uid", b"").decode()
        nsp = fields[b"nsp"].decode()
        kind = int(fields[b"type"])
        raw = fields.get(b"data")
        data: Any = None
        if raw:
            data = (
                jsoncodec.loads(raw) if raw[:1] == b"{" else decode_msgpack(base64.b64decode(raw))
            )
    except Exception:
        return None
    return uid, nsp, kind, data


def encode_session(session: PersistedSession) -> bytes:
    """A session as Node stores it: base64 of msgpack ``{sid, pid, rooms, data}``."""
    fields = {"sid": session.sid, "pid": session.pid, "rooms": session.rooms, "data": session.data}
    return base64.b64encode(encode_msgpack(fields))


def decode_session(raw: bytes) -> PersistedSession | None:
    """A stored session; None if it is malformed."""
    try:
        fields = decode_msgpack(base64.b64decode(raw))
    except Exception:
        return None
    if not isinstance(fields, dict):
        return None
    sid, pid = fields.get("sid"), fields.get("pid")
    if not isinstance(sid, str) or not isinstance(pid, str):
        return None
    return PersistedSession(sid, pid, strings(fields.get("rooms")), fields.get("data"))


_OFFSET = re.compile(r"[0-9]+-[0-9]+")


def is_offset(offset: str) -> bool:
    """Whether ``offset`` looks like a stream entry id (``<ms>-<seq>``)."""
    return _OFFSET.fullmatch(offset) is not None


def next_offset(offset: str) -> str:
    """The smallest entry id after ``offset`` (an exclusive XRANGE start for any Redis)."""
    ms, seq = offset.split("-")
    return f"{ms}-{int(seq) + 1}"


def reaches(rooms: list[str], opts: BroadcastOptions) -> bool:
    """Whether a broadcast with ``opts`` reaches a socket in ``rooms`` (its own room included)."""
    if opts.rooms and opts.rooms.isdisjoint(rooms):
        return False
    return opts.except_.isdisjoint(rooms)
