"""Why an Engine.IO session closed: the reasons reported to ``Session.on_close`` (Node's names)."""

from __future__ import annotations

__all__ = [
    "FORCED_CLOSE",
    "PARSE_ERROR",
    "PING_TIMEOUT",
    "SERVER_SHUTTING_DOWN",
    "TRANSPORT_CLOSE",
    "TRANSPORT_ERROR",
]

TRANSPORT_CLOSE = "transport close"
"""The client closed the connection (WebSocket closed, or a polling ``1`` close packet)."""
TRANSPORT_ERROR = "transport error"
"""The transport failed: bad request on the session, overlap, oversized payload, dropped poll."""
PING_TIMEOUT = "ping timeout"
"""No pong arrived within ``ping_timeout`` after a ping."""
PARSE_ERROR = "parse error"
"""The client sent a packet that does not decode."""
FORCED_CLOSE = "forced close"
"""The server closed the session (``Session.close()``)."""
SERVER_SHUTTING_DOWN = "server shutting down"
"""The engine is closing (``Engine.close()``)."""
