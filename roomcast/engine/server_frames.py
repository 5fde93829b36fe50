"""The frames a server sends without extensions: one unmasked, unfragmented frame per message.

RFC 6455 section 5.2: FIN and the opcode in the first byte, then the payload length in 7 bits,
or 126 and 16 bits, or 127 and 64 bits, no mask (a server never masks). This is what websockets'
``Frame(...).serialize(mask=False, extensions=())`` writes, built without its frame object and
per-call checks, which were several per cent of the CPU of an acknowledged round trip.
Frames with permessage-deflate negotiated and compressed are still websockets' job. Pure.
"""

from __future__ import annotations

from struct import Struct

__all__ = ["binary_frame", "text_frame"]

_SHORT = Struct("!BBH")
_LONG = Struct("!BBQ")
_FIN_TEXT = 0x81
_FIN_BINARY = 0x82


def text_frame(payload: bytes) -> bytes:
    """One final, unmasked text frame carrying ``payload`` (UTF-8 bytes)."""
    size = len(payload)  # (the header is written out in each function: one call per frame)
    if size < 126:
        return bytes((_FIN_TEXT, size)) + payload
    return (
        _SHORT.pack(_FIN_TEXT, 126, size) if size < 65536 else _LONG.pack(_FIN_TEXT, 127, size)
    ) + payload


def binary_frame(payload: bytes) -> bytes:
    """One final, unmasked binary frame carrying ``payload``."""
    size = len(payload)
    if size < 126:
        return bytes((_FIN_BINARY, size)) + payload
    return (
        _SHORT.pack(_FIN_BINARY, 126, size) if size < 65536 else _LONG.pack(_FIN_BINARY, 127, size)
    ) + payload
