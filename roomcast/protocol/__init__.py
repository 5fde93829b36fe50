"""Pure wire codecs for Engine.IO v4 and Socket.IO protocol 5: no I/O, dataclasses in and out.

Modules: :mod:`.engineio` (Engine.IO packets and polling payloads), :mod:`.jsoncodec` (JSON like
``JSON.stringify``), :mod:`.errors` (:class:`ProtocolError` and its subclasses).
"""

from . import engineio, errors, jsoncodec
from .errors import (
    AttachmentMismatch,
    InvalidAckId,
    InvalidAckPayload,
    InvalidConnectPayload,
    InvalidEnginePacket,
    InvalidEventPayload,
    InvalidJSON,
    InvalidNamespace,
    InvalidPayload,
    InvalidPlaceholder,
    PayloadTooLarge,
    ProtocolError,
    ReservedEventName,
    TooManyAttachments,
    UnknownPacketType,
)

__all__ = [
    "AttachmentMismatch",
    "InvalidAckId",
    "InvalidAckPayload",
    "InvalidConnectPayload",
    "InvalidEnginePacket",
    "InvalidEventPayload",
    "InvalidJSON",
    "InvalidNamespace",
    "InvalidPayload",
    "InvalidPlaceholder",
    "PayloadTooLarge",
    "ProtocolError",
    "ReservedEventName",
    "TooManyAttachments",
    "UnknownPacketType",
    "engineio",
    "errors",
    "jsoncodec",
]
