"""The Engine.IO server (sessions, transports, HTTP front) and the Socket.IO server built on it."""

from .cors import CorsOptions
from .engine import Engine
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
    "CorsOptions",
    "Engine",
    "EngineOptions",
    "Listener",
    "PreparedMessage",
    "Request",
    "Response",
    "Session",
]
