"""roomcast: a fast, typed Socket.IO v4 server for Python.

The names below are the public API. They are loaded on first use, so that importing one layer
(say ``roomcast.protocol``, the pure codecs) never pulls in the layers above it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Server": "roomcast.socketio.server",
    "Namespace": "roomcast.socketio.namespace",
    "Socket": "roomcast.socketio.socket",
    "BroadcastOperator": "roomcast.socketio.broadcast",
    "ConnectionRefused": "roomcast.errors",
    "AckTimeoutError": "roomcast.errors",
    "SocketDisconnected": "roomcast.errors",
    "Engine": "roomcast.engine.engine",
    "EngineOptions": "roomcast.engine.options",
    "CorsOptions": "roomcast.engine.cors",
    "Listener": "roomcast.engine.listener",
    "Request": "roomcast.engine.http",
    "Response": "roomcast.engine.http",
    "Adapter": "roomcast.rooms.adapter",
    "MemoryAdapter": "roomcast.rooms.memory",
    "RoomRegistry": "roomcast.rooms.registry",
    "RedisAdapter": "roomcast.rooms.redis",
    "redis_adapter": "roomcast.rooms.redis",
    "RedisStreamsAdapter": "roomcast.rooms.redis_streams",
    "redis_streams_adapter": "roomcast.rooms.redis_streams",
    "RemoteSocket": "roomcast.socketio.broadcast",
    "RecoveryOptions": "roomcast.socketio.recovery",
    "jwt_auth": "roomcast.auth.jwt",
}

__all__ = [
    "AckTimeoutError",
    "Adapter",
    "BroadcastOperator",
    "ConnectionRefused",
    "CorsOptions",
    "Engine",
    "EngineOptions",
    "Listener",
    "MemoryAdapter",
    "Namespace",
    "RecoveryOptions",
    "RedisAdapter",
    "RedisStreamsAdapter",
    "RemoteSocket",
    "Request",
    "Response",
    "RoomRegistry",
    "Server",
    "Socket",
    "SocketDisconnected",
    "__version__",
    "jwt_auth",
    "redis_adapter",
    "redis_streams_adapter",
]

if TYPE_CHECKING:
    from roomcast.auth.jwt import jwt_auth
    from roomcast.engine.cors import CorsOptions
    from roomcast.engine.engine import Engine
    from roomcast.engine.http import Request, Response
    from roomcast.engine.listener import Listener
    from roomcast.engine.options import EngineOptions
    from roomcast.errors import AckTimeoutError, ConnectionRefused, SocketDisconnected
    from roomcast.rooms.adapter import Adapter
    from roomcast.rooms.memory import MemoryAdapter
    from roomcast.rooms.redis import RedisAdapter, redis_adapter
    from roomcast.rooms.redis_streams import RedisStreamsAdapter, redis_streams_adapter
    from roomcast.rooms.registry import RoomRegistry
    from roomcast.socketio.broadcast import BroadcastOperator, RemoteSocket
    from roomcast.socketio.namespace import Namespace
    from roomcast.socketio.recovery import RecoveryOptions
    from roomcast.socketio.server import Server
    from roomcast.socketio.socket import Socket


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'roomcast' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
