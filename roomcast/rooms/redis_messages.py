"""The wire format of Node's ``@socket.io/redis-adapter`` 8.3 (default options), Sans-I/O.

Channels, for key prefix ``socket.io`` and namespace ``/chat``:

- ``socket.io#/chat#`` broadcasts to everyone, ``socket.io#/chat#<room>#`` broadcasts to exactly
  one room (every server subscribes to the pattern ``socket.io#/chat#*``);
- ``socket.io-request#/chat#`` requests between servers (``PUBSUB NUMSUB`` of it is the number
  of servers);
- ``socket.io-response#/chat#`` responses, and ``socket.io-response#/chat#<uid>#`` responses
  meant for one server.

Broadcasts and broadcast-with-ack requests (and the ack responses) are msgpack as Node's
``notepack.io`` writes it: Buffers as ``bin``, ``undefined`` as ``nil`` (and dropped from maps),
floats as float64, dates as timestamps. Every other request and response is JSON. A message
starting with ``{`` is JSON, anything else msgpack.
"""

from __future__ import annotations

import dataclasses
import datetime
import secrets
import string
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import msgpack  # type: ignore[import-untyped]

from ..protocol import jsoncodec
from ..protocol.socketio import Packet, PacketType
from .adapter import BroadcastFlags, BroadcastOptions, RemoteSocketDetails, SocketLike

__all__ = [
    "Channels",
    "RequestType",
    "decode",
    "decode_broadcast",
    "decode_opts",
    "decode_packet",
    "encode_broadcast",
    "encode_json",
    "encode_msgpack",
    "encode_opts",
    "encode_packet",
    "new_uid",
    "remote_socket",
    "socket_details",
    "strings",
]

_ALPHABET = string.ascii_letters + string.digits


def new_uid(size: int = 6) -> str:
    """A random id like Node's ``uid2(6)`` (server uids and request ids)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(size))


class RequestType(IntEnum):
    """The ``type`` of a request between servers."""

    SOCKETS = 0
    ALL_ROOMS = 1
    REMOTE_JOIN = 2
    REMOTE_LEAVE = 3
    REMOTE_DISCONNECT = 4
    REMOTE_FETCH = 5
    SERVER_SIDE_EMIT = 6
    BROADCAST = 7
    BROADCAST_CLIENT_COUNT = 8
    BROADCAST_ACK = 9


@dataclass(frozen=True, slots=True)
class Channels:
    """The channel names of one namespace for one server."""

    broadcast: str
    """``<key>#<nsp>#``: broadcasts (``+ room + "#"`` for one room)."""
    request: str
    response: str
    specific_response: str
    """``<key>-response#<nsp>#<uid>#``."""

    @classmethod
    def of(cls, key: str, nsp: str, uid: str) -> Channels:
        """The channels for key prefix ``key``, namespace ``nsp``, server ``uid``."""
        response = f"{key}-response#{nsp}#"
        return cls(f"{key}#{nsp}#", f"{key}-request#{nsp}#", response, f"{response}{uid}#")

    @property
    def pattern(self) -> str:
        """The glob pattern matching every broadcast channel of the namespace."""
        escaped = "".join("\\" + c if c in "*?[]\\" else c for c in self.broadcast)
        return escaped + "*"

    def for_rooms(self, rooms: frozenset[str]) -> str:
        """Where a broadcast to ``rooms`` goes: the room's channel for exactly one room."""
        if len(rooms) == 1:
            for room in rooms:
                return f"{self.broadcast}{room}#"
        return self.broadcast


# msgpack, the notepack.io way


def _default(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return msgpack.Timestamp.from_datetime(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} for the Redis adapter")


_packer_options: dict[str, Any] = {"use_bin_type": True, "default": _default, "datetime": False}


def encode_msgpack(value: Any) -> bytes:
    """``value`` as notepack.io writes it (``None`` as ``nil``; bytes, bytearray, memoryview as
    ``bin``; floats as float64)."""
    return msgpack.packb(value, **_packer_options)  # type: ignore[no-any-return]


def _ext_hook(code: int, data: bytes) -> Any:
    if code == 0:
        # notepack's old encodings: fixext 1 type 0 for undefined, ext type 0 for ArrayBuffer
        return None if data == b"\x00" else data
    return [code, data]


_TIMESTAMP_MARKS = (b"\xd6\xff", b"\xd7\xff", b"\xc7\x0c\xff")


def _js_date(value: datetime.datetime) -> str:
    """What ``JSON.stringify(date)`` writes: ``2024-01-31T12:00:00.000Z``."""
    value = value.astimezone(datetime.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _dates_to_strings(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return _js_date(value)
    if isinstance(value, list):
        return [_dates_to_strings(v) for v in value]
    if isinstance(value, dict):
        return {k: _dates_to_strings(v) for k, v in value.items()}
    return value


def decode_msgpack(data: bytes) -> Any:
    """Read a notepack.io message. ``bin`` -> bytes, ``nil`` (and notepack's ``undefined``) ->
    None, dates -> the string ``JSON.stringify`` makes of them (what clients would get)."""
    value = msgpack.unpackb(data, raw=False, strict_map_key=False, ext_hook=_ext_hook, timestamp=3)
    if any(mark in data for mark in _TIMESTAMP_MARKS):
        value = _dates_to_strings(value)
    return value


def _json_ready(value: Any) -> Any:
    """Binary as ``JSON.stringify`` writes a Node Buffer: ``{"type":"Buffer","data":[...]}``."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"type": "Buffer", "data": list(bytes(value))}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    return value


def encode_json(value: Any) -> bytes:
    """``JSON.stringify(value)`` as UTF-8 bytes (bytes as Node's Buffer JSON)."""
    return jsoncodec.dumps(_json_ready(value)).encode()


def decode(data: bytes) -> Any:
    """A request or response: JSON if it starts with ``{``, else msgpack."""
    if data[:1] == b"{":
        return jsoncodec.loads(data)
    return decode_msgpack(data)


# packets and broadcast options


def encode_packet(packet: Packet) -> dict[str, Any]:
    """A Socket.IO packet as Node's adapter carries it: ``{type, data, nsp[, id]}``."""
    fields: dict[str, Any] = {"type": int(packet.type), "data": packet.data, "nsp": packet.nsp}
    if packet.id is not None:
        fields["id"] = packet.id
    return fields


def decode_packet(fields: Any) -> Packet | None:
    """A packet from a Node-style dict; None if it is not one."""
    if not isinstance(fields, dict):
        return None
    try:
        kind = PacketType(int(fields.get("type", -1)))
    except (TypeError, ValueError):
        return None
    if kind is PacketType.BINARY_EVENT:
        kind = PacketType.EVENT  # the encoder finds the binary parts again
    elif kind is PacketType.BINARY_ACK:
        kind = PacketType.ACK
    nsp = fields.get("nsp")
    ack_id = fields.get("id")
    # an ACK keeps its id: a server relays a moved socket's late ack answers this way (an
    # EVENT's id is the sending server's own, each server gives its recipients a fresh one)
    keep = kind is PacketType.ACK and isinstance(ack_id, int) and not isinstance(ack_id, bool)
    return Packet(
        kind, nsp if isinstance(nsp, str) else "/", fields.get("data"), ack_id if keep else None
    )


def encode_opts(opts: BroadcastOptions, *, with_flags: bool = True) -> dict[str, Any]:
    """``{rooms, except[, flags]}`` as Node sends them (timeout in milliseconds)."""
    fields: dict[str, Any] = {"rooms": list(opts.rooms), "except": list(opts.except_)}
    if with_flags:
        flags = opts.flags
        node_flags: dict[str, Any] = {}
        if flags.volatile:
            node_flags["volatile"] = True
        if flags.compress is not None:
            node_flags["compress"] = flags.compress
        if flags.timeout is not None:
            node_flags["timeout"] = round(flags.timeout * 1000)
        if flags.expect_single_response:
            node_flags["expectSingleResponse"] = True
        fields["flags"] = node_flags
    return fields


def _names(value: Any) -> frozenset[str]:
    if not isinstance(value, list):
        return frozenset()
    return frozenset(v if isinstance(v, str) else _js_string(v) for v in value)


def _js_string(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def decode_opts(fields: Any) -> BroadcastOptions:
    """The broadcast options of a Node-style ``{rooms, except, flags}`` dict."""
    if not isinstance(fields, dict):
        return BroadcastOptions()
    flags = fields.get("flags")
    if isinstance(flags, dict):
        compress = flags.get("compress")
        timeout = flags.get("timeout")
        node_flags = BroadcastFlags(
            volatile=bool(flags.get("volatile")),
            compress=compress if isinstance(compress, bool) else None,
            timeout=timeout / 1000 if isinstance(timeout, int | float) else None,
        )
    else:
        node_flags = BroadcastFlags()
    return BroadcastOptions(_names(fields.get("rooms")), _names(fields.get("except")), node_flags)


def encode_broadcast(uid: str, packet: Packet, opts: BroadcastOptions) -> bytes:
    """The message of a broadcast: msgpack ``[uid, packet, opts]``."""
    return encode_msgpack([uid, encode_packet(packet), encode_opts(opts)])


def decode_broadcast(data: bytes) -> tuple[str, Packet, BroadcastOptions] | None:
    """``(uid, packet, opts)`` of a broadcast message; None if it is malformed."""
    try:
        message = decode_msgpack(data)
    except (ValueError, msgpack.UnpackException):
        return None
    if not isinstance(message, list) or len(message) < 3:
        return None
    packet = decode_packet(message[1])
    if packet is None or not isinstance(message[0], str):
        return None
    return message[0], packet, decode_opts(message[2])


# sockets described to other servers (FETCH_SOCKETS answers)


def strings(value: Any) -> list[str]:
    """The strings of a list (nothing if it is not one)."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def socket_details(socket: SocketLike) -> dict[str, Any]:
    """A local socket as Node describes it to other servers."""
    handshake: Any = getattr(socket, "handshake", None)
    if dataclasses.is_dataclass(handshake) and not isinstance(handshake, type):
        handshake = dataclasses.asdict(handshake)
    rooms: Any = getattr(socket, "rooms", ())
    return {
        "id": socket.id,
        "handshake": handshake if isinstance(handshake, dict) else {},
        "rooms": list(rooms),
        "data": getattr(socket, "data", None),
    }


def remote_socket(fields: dict[str, Any]) -> RemoteSocketDetails:
    """A socket of another server from its description."""
    handshake = fields.get("handshake")
    return RemoteSocketDetails(
        id=str(fields.get("id")),
        handshake=handshake if isinstance(handshake, dict) else {},
        rooms=set(strings(fields.get("rooms"))),
        data=fields.get("data"),
    )
