"""The details of a socket's connection as the server saw them at its handshake."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Handshake", "js_date"]


@dataclass(slots=True)
class Handshake:
    """What a connecting socket carried (Node's ``socket.handshake``)."""

    headers: dict[str, str] = field(default_factory=dict)
    """The HTTP headers of the Engine.IO handshake request, names lower-case."""
    query: dict[str, str] = field(default_factory=dict)
    """The query string of the handshake request (``EIO``, ``transport`` and the client's own)."""
    auth: dict[str, Any] = field(default_factory=dict)
    """The ``auth`` payload of the namespace CONNECT packet (``{}`` when the client sent none)."""
    address: str | None = None
    """The client's IP address."""
    time: str = ""
    """When the socket connected, as JavaScript's ``Date.toString()`` writes it."""
    issued: int = 0
    """When the socket connected, in milliseconds since the epoch."""
    url: str = ""
    """The raw target of the handshake request, e.g. ``/socket.io/?EIO=4&transport=polling``."""
    secure: bool = False
    """Whether the connection is encrypted (TLS)."""
    xdomain: bool = False
    """Whether the handshake request carried an ``Origin`` header."""


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def js_date(seconds: float) -> str:
    """``seconds`` since the epoch written like JavaScript's ``String(new Date())`` in UTC."""
    t = time.gmtime(seconds)
    return (
        f"{_DAYS[t.tm_wday]} {_MONTHS[t.tm_mon - 1]} {t.tm_mday:02d} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT+0000 (Coordinated Universal Time)"
    )
