"""Errors of the wire codecs: one root, :class:`ProtocolError`, and one subclass per problem."""

from __future__ import annotations

__all__ = [
    "AttachmentMismatch",
    "InvalidAckId",
    "InvalidAckPayload",
    "InvalidConnectPayload",
    "InvalidEnginePacket",
    "InvalidEventPayload",
    "InvalidJSON",
    "InvalidMessagePack",
    "InvalidNamespace",
    "InvalidPayload",
    "InvalidPlaceholder",
    "NestingTooDeep",
    "PayloadTooLarge",
    "ProtocolError",
    "ReservedEventName",
    "TooManyAttachments",
    "UnknownPacketType",
]


class ProtocolError(ValueError):
    """Something on the wire (or about to go on it) breaks the Engine.IO or Socket.IO protocol."""


class InvalidEnginePacket(ProtocolError):
    """An Engine.IO packet is empty, has an unknown type, or carries bad base64."""


class PayloadTooLarge(ProtocolError):
    """An input is longer than the configured maximum."""


class InvalidJSON(ProtocolError):
    """A packet's payload is not valid JSON."""


class NestingTooDeep(InvalidJSON):
    """JSON nests arrays and objects more than :data:`~.jsoncodec.MAX_DEPTH` levels deep."""


class UnknownPacketType(ProtocolError):
    """A Socket.IO packet starts with something other than a known type digit."""


class InvalidNamespace(ProtocolError):
    """A Socket.IO namespace does not start with ``/`` or is not terminated properly."""


class InvalidAckId(ProtocolError):
    """An ack id is missing where required, not a safe integer, or malformed."""


class InvalidEventPayload(ProtocolError):
    """An EVENT payload is not a non-empty array starting with a string event name."""


class InvalidAckPayload(ProtocolError):
    """An ACK payload is not an array."""


class InvalidConnectPayload(ProtocolError):
    """A CONNECT payload is not an object, or a CONNECT_ERROR payload not a string or object."""


class InvalidPayload(ProtocolError):
    """A payload has a shape its packet type does not allow (e.g. data on a DISCONNECT)."""


class AttachmentMismatch(ProtocolError):
    """Binary attachments do not match the packet: bad count, or binary/text out of turn."""


class InvalidPlaceholder(ProtocolError):
    """A binary placeholder is malformed or points past the attachments."""


class TooManyAttachments(ProtocolError):
    """A binary packet announces more attachments than the decoder allows."""


class ReservedEventName(InvalidEventPayload):
    """An EVENT is named with a name reserved by Socket.IO (``connect``, ``disconnect``...)."""


class InvalidMessagePack(ProtocolError):
    """A message is not one valid MessagePack value, or not a map (msgpack parser)."""
