"""Socket.IO protocol 5 packets: encode to Engine.IO messages, decode them back incrementally.

A packet is ``<type digit>[<attachments>-][<namespace>,][<ack id>][<JSON>]``, the namespace omitted
when it is ``/``. Validation follows the reference parser (``socket.io-parser`` 4.2): see
:class:`Decoder` for the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from .binary import deconstruct, placeholder_hook, reconstruct
from .errors import (
    AttachmentMismatch,
    InvalidAckId,
    InvalidAckPayload,
    InvalidConnectPayload,
    InvalidEventPayload,
    InvalidNamespace,
    InvalidPayload,
    NestingTooDeep,
    PayloadTooLarge,
    ReservedEventName,
    TooManyAttachments,
    UnknownPacketType,
)
from .jsoncodec import dumps, dumps_hooked, loads

__all__ = [
    "RESERVED_EVENTS",
    "Decoder",
    "Packet",
    "PacketType",
    "check_data",
    "encode_packet",
    "packet_type",
]

RESERVED_EVENTS = frozenset(
    ("connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener")
)
"""Event names with a meaning of their own: never sent nor accepted as an EVENT's name."""


class PacketType(IntEnum):
    """Socket.IO packet types, sent as one ASCII digit."""

    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


@dataclass(slots=True)
class Packet:
    """One Socket.IO packet. ``data`` is the decoded JSON payload (None when absent)."""

    type: PacketType
    nsp: str = "/"
    data: Any = None
    id: int | None = None


CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR, BINARY_EVENT, BINARY_ACK = PacketType
_TYPES = {str(int(t)): t for t in PacketType}
_DIGITS = "0123456789"
_JSON_OPENERS = frozenset("[{")


def packet_type(value: Any) -> PacketType:
    """``value`` as a :class:`PacketType` (an int is accepted); :class:`UnknownPacketType` if it
    is none. Shared by every parser's encoder."""
    if type(value) is PacketType:
        return value
    try:
        return PacketType(value)
    except ValueError:
        raise UnknownPacketType(f"unknown Socket.IO packet type {value!r}") from None


def check_data(type_: PacketType, data: Any) -> None:
    """Raise the error for ``data`` that the reference parser refuses for a packet of ``type_``
    (shared by every parser: the rules are the protocol's, not the encoding's)."""
    if type_ is EVENT or type_ is BINARY_EVENT:
        if not isinstance(data, list) or not data:
            raise InvalidEventPayload("EVENT payload must be a non-empty array")
        name = data[0]
        if type(name) is str:
            if name in RESERVED_EVENTS:
                raise ReservedEventName(f"event name {name!r} is reserved")
        elif type(name) is not int and type(name) is not float:
            raise InvalidEventPayload("EVENT name must be a string or a number")
    elif type_ is ACK or type_ is BINARY_ACK:
        if not isinstance(data, list):
            raise InvalidAckPayload("ACK payload must be an array")
    elif type_ is CONNECT:
        if not isinstance(data, dict):
            raise InvalidConnectPayload("CONNECT payload must be an object")
    elif type_ is CONNECT_ERROR:
        if not isinstance(data, dict | str):
            raise InvalidConnectPayload("CONNECT_ERROR payload must be a string or an object")
    else:
        raise InvalidPayload("DISCONNECT packet takes no payload")


_SHORT_ID = 10**18
"""Ack ids below this are written by :func:`encode_packet` itself (no digit limit near)."""


def _head(type_: PacketType, nsp: str, id_: int | None) -> str:
    """The text before the JSON: type digit, namespace, ack id (attachments added by the caller)."""
    text = _DIGITS[type_]
    if nsp != "/":
        if nsp[:1] != "/" or "," in nsp:
            raise InvalidNamespace(f"namespace {nsp!r} must start with '/' and hold no ','")
        text += nsp + ","
    if id_ is not None:
        if type(id_) is not int or id_ < 0:
            raise InvalidAckId(f"ack id {id_!r} must be a non-negative integer")
        try:
            text += str(id_)
        except ValueError:  # more digits than int -> str allows
            raise InvalidAckId("ack id is too large") from None
    return text


def encode_packet(packet: Packet) -> list[str | bytes]:
    """Encode ``packet`` as Engine.IO MESSAGE payloads: ``[text, *binary attachments]``.

    An EVENT or ACK whose data holds bytes-like values anywhere goes as BINARY_EVENT/BINARY_ACK
    with ``{"_placeholder":true,"num":N}`` in their place. The result can be handed unchanged to
    any number of recipients. The packet must be one :class:`Decoder` would accept: a reserved
    event name raises :class:`ReservedEventName`, other shapes their :class:`ProtocolError`
    (:class:`NestingTooDeep` for data nested past what Python can encode).
    """
    type_ = packet.type
    if type(type_) is not PacketType:
        type_ = packet_type(type_)
    data = packet.data
    if data is None:
        if type_ is BINARY_EVENT or type_ is BINARY_ACK:
            raise AttachmentMismatch(f"{type_.name} packet without binary data")
        return [_head(type_, packet.nsp, packet.id)]
    if type(data) is tuple:
        data = list(data)
    check_data(type_, data)
    if type_ is CONNECT or type_ is CONNECT_ERROR:
        return [_head(type_, packet.nsp, packet.id) + dumps(data)]
    buffers: list[bytes] = []
    try:
        text = dumps_hooked(data, placeholder_hook(buffers))
        if text is None:  # the one-pass encoder gave up: the slow path
            data, buffers = deconstruct(data)
            text = dumps(data)
    except RecursionError:
        raise NestingTooDeep("data nested too deeply to encode") from None
    if not buffers:
        if type_ is BINARY_EVENT or type_ is BINARY_ACK:
            raise AttachmentMismatch(f"{type_.name} packet without binary data")
        id_ = packet.id
        if packet.nsp == "/" and (id_ is None or (type(id_) is int and 0 <= id_ < _SHORT_ID)):
            # _head's common case, inline
            return [_DIGITS[type_] + text if id_ is None else _DIGITS[type_] + str(id_) + text]
        return [_head(type_, packet.nsp, id_) + text]
    type_ = BINARY_EVENT if type_ is EVENT or type_ is BINARY_EVENT else BINARY_ACK
    head = _head(type_, packet.nsp, packet.id)
    return [head[0] + str(len(buffers)) + "-" + head[1:] + text, *buffers]


class Decoder:
    """Decode the Engine.IO MESSAGE payloads of one connection into Socket.IO packets.

    Text goes through :meth:`feed` as ``str``, binary attachments as bytes. A binary packet is
    returned once its last attachment has arrived, keeping its BINARY_EVENT/BINARY_ACK type, with
    ``bytes`` in place of the placeholders. Errors are :class:`ProtocolError` subclasses, as the
    reference parser refuses: unknown type, bad attachment count (1 to ``max_attachments``), ack id
    not digits, invalid JSON, a payload of the wrong shape for its type (EVENT: a non-empty array
    whose first item is a number or a non-reserved string; ACK: an array; CONNECT: an object;
    CONNECT_ERROR: a string or an object; DISCONNECT: nothing), a placeholder out of range, text
    while attachments are awaited or binary while none are, and input over ``max_length``.
    Like the reference parser, a namespace may end the packet without its comma (``2/admin``)
    and the payload may be absent for every type. After an error the decoder starts afresh.
    """

    __slots__ = ("_buffers", "_expected", "_packet", "max_attachments", "max_length")

    def __init__(self, *, max_attachments: int = 10, max_length: int | None = None) -> None:
        self.max_attachments = max_attachments
        self.max_length = max_length
        self._packet: Packet | None = None
        self._buffers: list[bytes] = []
        self._expected = 0

    @property
    def awaiting_attachments(self) -> bool:
        """Whether a binary packet has been read and still waits for attachments."""
        return self._packet is not None

    def reset(self) -> None:
        """Forget a binary packet in progress."""
        self._packet = None
        self._buffers = []
        self._expected = 0

    def feed(self, message: str | bytes) -> Packet | None:
        """Decode one message; None while a binary packet still waits for attachments."""
        max_length = self.max_length
        if max_length is not None and len(message) > max_length:
            self.reset()
            raise PayloadTooLarge(f"message of {len(message)} exceeds {max_length}")
        if isinstance(message, str):
            if self._packet is not None:
                self.reset()
                raise AttachmentMismatch("text message while binary attachments are awaited")
            try:
                return self._decode(message)
            except RecursionError:
                raise InvalidPayload("payload nested too deeply") from None
        if self._packet is None:
            raise AttachmentMismatch("binary message while no binary packet awaits attachments")
        self._buffers.append(message if type(message) is bytes else bytes(message))
        if len(self._buffers) < self._expected:
            return None
        packet, buffers = self._packet, self._buffers
        self.reset()
        try:
            packet.data = reconstruct(packet.data, buffers)
        except RecursionError:
            raise InvalidPayload("payload nested too deeply") from None
        return packet

    def _decode(self, text: str) -> Packet | None:
        type_ = _TYPES.get(text[:1])
        if type_ is None:
            raise UnknownPacketType(f"unknown Socket.IO packet type {text[:1]!r}")
        if text[1:2] in _JSON_OPENERS and type_ < BINARY_EVENT:  # "2[...]": no nsp, no id
            data = loads(text[1:])
            check_data(type_, data)
            return Packet(type_, "/", data)
        end = len(text)
        pos = 1
        attachments = 0
        if type_ is BINARY_EVENT or type_ is BINARY_ACK:
            dash = text.find("-", 1)
            count = text[1:dash]
            if dash < 0 or not count.isdigit() or not count.isascii():
                raise AttachmentMismatch(f"{type_.name} packet without a valid attachment count")
            attachments = int(count)
            if attachments < 1:
                raise AttachmentMismatch("binary packet with no attachments")
            if attachments > self.max_attachments:
                raise TooManyAttachments(
                    f"{attachments} attachments, more than {self.max_attachments}"
                )
            pos = dash + 1
        nsp = "/"
        if pos < end and text[pos] == "/":
            comma = text.find(",", pos)
            if comma < 0:
                nsp, pos = text[pos:], end
            else:
                nsp, pos = text[pos:comma], comma + 1
        id_ = None
        if pos < end and text[pos] in _DIGITS:
            start = pos
            pos += 1
            while pos < end and text[pos] in _DIGITS:
                pos += 1
            try:
                id_ = int(text[start:pos])
            except ValueError:  # more digits than str -> int allows
                raise InvalidAckId(f"ack id of {pos - start} digits is too large") from None
        data = None
        if pos < end:
            data = loads(text[pos:])
            check_data(type_, data)
        packet = Packet(type_, nsp, data, id_)
        if attachments:
            self._packet = packet
            self._expected = attachments
            return None
        return packet
