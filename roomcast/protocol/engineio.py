"""Engine.IO v4 packets: the WebSocket form (one packet per frame) and the polling payload form."""

from __future__ import annotations

import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from .errors import InvalidEnginePacket

__all__ = [
    "SEPARATOR",
    "Packet",
    "PacketType",
    "decode_packet",
    "decode_payload",
    "encode_packet",
    "encode_payload",
]

SEPARATOR = "\x1e"
"""The record separator joining packets in a polling payload."""


class PacketType(IntEnum):
    """Engine.IO packet types, sent as one ASCII digit."""

    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


@dataclass(frozen=True, slots=True)
class Packet:
    """One Engine.IO packet; ``data`` is bytes only for a binary MESSAGE."""

    type: PacketType
    data: str | bytes = ""


_DIGITS = tuple(str(int(t)) for t in PacketType)
_TYPES = {str(int(t)): t for t in PacketType}
_MESSAGE = PacketType.MESSAGE


def encode_packet(packet: Packet) -> str | bytes:
    """Encode for WebSocket: ``"4hello"`` for text, the raw bytes for a binary MESSAGE."""
    data = packet.data
    if isinstance(data, str):
        return _DIGITS[packet.type] + data
    return bytes(data)


def _decode_base64(text: str) -> bytes:
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidEnginePacket(f"invalid base64 in binary packet: {exc}") from None


def decode_packet(data: str | bytes) -> Packet:
    """Decode one WebSocket frame: bytes are a binary MESSAGE, text is ``<type digit><data>``."""
    if not isinstance(data, str):
        return Packet(_MESSAGE, bytes(data))
    if not data:
        raise InvalidEnginePacket("empty Engine.IO packet")
    head = data[0]
    if head == "b":
        return Packet(_MESSAGE, _decode_base64(data[1:]))
    try:
        return Packet(_TYPES[head], data[1:])
    except KeyError:
        raise InvalidEnginePacket(f"unknown Engine.IO packet type {head!r}") from None


def encode_payload(packets: Iterable[Packet]) -> str:
    """Encode packets for HTTP long-polling: joined by ``"\\x1e"``, binary as ``"b" + base64``."""
    parts = []
    for packet in packets:
        data = packet.data
        if isinstance(data, str):
            parts.append(_DIGITS[packet.type] + data)
        else:
            parts.append("b" + binascii.b2a_base64(data, newline=False).decode("ascii"))
    return SEPARATOR.join(parts)


def decode_payload(data: str) -> list[Packet]:
    """Decode an HTTP long-polling payload into its packets; any bad packet fails the whole."""
    return [decode_packet(part) for part in data.split(SEPARATOR)]
