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


def _frame(first: int, payload: bytes) -> bytes:
    size = len(payload)
    if size < 126:
        return bytes((first, size)) + payload
    if size < 65536:
        return _SHORT.pack(first, 126, size) + payload
    return _LONG.pack(first, 127, size) + payload


def text_frame(payload: bytes) -> bytes:
    """One final, unmasked text frame carrying ``payload`` (UTF-8 bytes)."""
    return _frame(_FIN_TEXT, payload)


def binary_frame(payload: bytes) -> bytes:
    """One final, unmasked binary frame carrying ``payload``."""
    return _frame(_FIN_BINARY, payload)
