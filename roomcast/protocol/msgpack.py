"""Socket.IO packets as MessagePack, wire-compatible with npm ``socket.io-msgpack-parser`` 3.x.

Each packet is one binary Engine.IO message: a map of ``type``, ``data``, ``nsp`` and ``id``
(keys absent when unset), in the order Node's socket.io writes them. Binary values are native
MessagePack ``bin`` (no attachments; BINARY_EVENT/BINARY_ACK go as EVENT/ACK). The npm package
(``notepack.io``) gives ext type 0 three meanings, read here by length as it writes them: 1 byte
is JavaScript ``undefined`` (``None``), 8 bytes a ``Date`` (an aware :class:`~datetime.datetime`
in UTC, milliseconds), any other length a Node ``ArrayBuffer``/typed array (``bytes``); other ext
types decode to ``[type, bytes]`` as there. Encoding takes what ``msgpack`` packs (``None``, bool,
int, float, str, bytes-like, list, tuple, dict) and :class:`~datetime.datetime` (as a ``Date``).

Decoding accepts what the npm Decoder accepts, with three differences: an EVENT must be a
non-empty array whose first item is a string or number and not a reserved name (as the JSON
parser requires), an ack id must be a non-negative integer, and a ``data`` of nil counts as
absent (python-socketio's msgpack client sends ``data: nil`` on CONNECT and DISCONNECT).
"""

from __future__ import annotations

import datetime
import struct
from typing import Any

import msgpack  # type: ignore[import-untyped]

from .errors import (
    InvalidAckId,
    InvalidMessagePack,
    InvalidNamespace,
    InvalidPayload,
    NestingTooDeep,
    PayloadTooLarge,
    ProtocolError,
    UnknownPacketType,
)
from .parser import PacketDecoder, Parser
from .socketio import Packet, PacketType, check_data, packet_type

__all__ = ["MSGPACK_PARSER", "MsgpackDecoder", "encode_packet"]

CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR, BINARY_EVENT, BINARY_ACK = PacketType
_WIRE_TYPES = {
    CONNECT: 0,
    DISCONNECT: 1,
    EVENT: 2,
    ACK: 3,
    CONNECT_ERROR: 4,
    BINARY_EVENT: 2,
    BINARY_ACK: 3,
}
_TYPES = (CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR)
_UNDEFINED = msgpack.ExtType(0, b"\x00")
"""JavaScript ``undefined`` as ``notepack.io`` writes it (fixext 1, type 0)."""
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_MS = datetime.timedelta(milliseconds=1)
_DATE = struct.Struct(">iI")


def _default(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        ms = (value - _EPOCH) // _MS
        return msgpack.ExtType(0, _DATE.pack(ms >> 32, ms & 0xFFFFFFFF))
    if isinstance(value, int):
        raise InvalidPayload(f"integer {value} out of MessagePack's 64-bit range")
    raise TypeError(f"Object of type {type(value).__name__} is not MessagePack serializable")


def _ext_hook(code: int, data: bytes) -> Any:
    if code != 0:
        return [code, data]
    if len(data) == 1:
        return None
    if len(data) == 8:
        hi, lo = _DATE.unpack(data)
        try:
            return _EPOCH + (hi * 2**32 + lo) * _MS
        except OverflowError:
            raise InvalidMessagePack("Date out of range") from None
    return data


def encode_packet(packet: Packet) -> list[str | bytes]:
    """Encode ``packet`` as one binary Engine.IO MESSAGE payload: ``[bytes]``.

    The packet must be one the JSON parser's :func:`~.socketio.encode_packet` accepts (same
    errors); ``TypeError`` for a value MessagePack cannot hold, :class:`NestingTooDeep` for
    data nested past ``msgpack``'s limit. A CONNECT answer without ``pid`` carries
    ``pid: undefined`` as Node's does, so the bytes are Node's own.
    """
    type_ = packet_type(packet.type)
    nsp = packet.nsp
    if type(nsp) is not str or nsp[:1] != "/":
        raise InvalidNamespace(f"namespace {nsp!r} must be a string starting with '/'")
    id_ = packet.id
    if id_ is not None and (type(id_) is not int or id_ < 0):
        raise InvalidAckId(f"ack id {id_!r} must be a non-negative integer")
    data = packet.data
    wire: dict[str, Any]
    if data is None:  # as the JSON parser: any type may go without data
        wire = {"type": _WIRE_TYPES[type_], "nsp": nsp}
    else:
        if type(data) is tuple:
            data = list(data)
        check_data(type_, data)
        if (type_ is ACK or type_ is BINARY_ACK) and id_ is not None:
            wire = {"id": id_, "type": 3, "data": data, "nsp": nsp}
            id_ = None
        else:
            if type_ is CONNECT and type(data) is dict and "sid" in data and "pid" not in data:
                data = {**data, "pid": _UNDEFINED}
            wire = {"type": _WIRE_TYPES[type_], "data": data}
            if id_ is not None:
                wire["id"] = id_
                id_ = None
            wire["nsp"] = nsp
    if id_ is not None:
        wire["id"] = id_
    try:
        return [msgpack.packb(wire, default=_default)]
    except ProtocolError:
        raise
    except UnicodeEncodeError:
        raise InvalidPayload("a string with a lone surrogate has no UTF-8 form") from None
    except OverflowError:
        raise InvalidPayload("integer out of MessagePack's 64-bit range") from None
    except ValueError as exc:  # msgpack's nesting limit
        raise NestingTooDeep(f"data nested too deeply to encode: {exc}") from None


class MsgpackDecoder:
    """Decode one connection's binary messages into packets (see the module for the rules).

    Every message is a whole packet: :meth:`feed` never returns None. Text messages are refused
    (:class:`InvalidPayload`), as are messages over ``max_length`` (:class:`PayloadTooLarge`).
    """

    __slots__ = ("max_length",)

    def __init__(self, *, max_length: int | None = None) -> None:
        self.max_length = max_length

    @property
    def awaiting_attachments(self) -> bool:
        """Always False: MessagePack packets have no attachments."""
        return False

    def reset(self) -> None:
        """Nothing to forget: no packet is ever in progress."""

    def feed(self, message: str | bytes) -> Packet:
        """Decode one message."""
        max_length = self.max_length
        if max_length is not None and len(message) > max_length:
            raise PayloadTooLarge(f"message of {len(message)} exceeds {max_length}")
        if isinstance(message, str):
            raise InvalidPayload("text message: the msgpack parser takes binary messages only")
        try:
            wire = msgpack.unpackb(message, ext_hook=_ext_hook)
        except InvalidMessagePack:
            raise
        except (ValueError, TypeError) as exc:  # truncated, extra data, bad keys, too deep
            raise InvalidMessagePack(f"invalid MessagePack: {exc}") from None
        if type(wire) is not dict:
            raise InvalidMessagePack("packet is not a MessagePack map")
        type_ = wire.get("type")
        if type(type_) is float and type_.is_integer():
            type_ = int(type_)
        if type(type_) is not int or not 0 <= type_ <= 4:
            raise UnknownPacketType(f"unknown Socket.IO packet type {type_!r}")
        kind = _TYPES[type_]
        nsp = wire.get("nsp")
        if type(nsp) is not str:
            raise InvalidNamespace("namespace must be a string")
        data = wire.get("data")
        if data is not None or (kind is not CONNECT and kind is not DISCONNECT):
            check_data(kind, data)
        id_ = wire.get("id")
        if id_ is not None:
            if type(id_) is float and id_.is_integer():
                id_ = int(id_)
            if type(id_) is not int or id_ < 0:
                raise InvalidAckId(f"ack id {id_!r} must be a non-negative integer")
        return Packet(kind, nsp, data, id_)


def _decoder(max_attachments: int) -> PacketDecoder:
    return MsgpackDecoder()


MSGPACK_PARSER = Parser("msgpack", encode_packet, _decoder)
"""The parser of npm ``socket.io-msgpack-parser`` 3.x (``Server(parser="msgpack")``)."""
