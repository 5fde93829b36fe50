"""The Engine.IO server, as Node's ``engine.io`` package: the HTTP front and listener, CORS,
:class:`Engine` (handshakes, sessions), :class:`Session` and its polling and WebSocket transports.

It knows nothing of Socket.IO: :mod:`roomcast.socketio` runs on top of it, one Engine.IO session per
Socket.IO client.
"""

from .cors import CorsOptions
from .engine import Engine
from .hooks import CookieOptions
from .http import Request, Response
from .listener import Listener
from .options import EngineOptions
from .prepared import PreparedMessage
from .reasons import (
    FORCED_CLOSE,
    PARSE_ERROR,
    PING_TIMEOUT,
    SERVER_SHUTTING_DOWN,
    TRANSPORT_CLOSE,
    TRANSPORT_ERROR,
)
from .session import Session

__all__ = [
    "FORCED_CLOSE",
    "PARSE_ERROR",
    "PING_TIMEOUT",
    "SERVER_SHUTTING_DOWN",
    "TRANSPORT_CLOSE",
    "TRANSPORT_ERROR",
    "CookieOptions",
    "CorsOptions",
    "Engine",
    "EngineOptions",
    "Listener",
    "PreparedMessage",
    "Request",
    "Response",
    "Session",
]
