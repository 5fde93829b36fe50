"""The Socket.IO server, as Node's ``socket.io`` package: namespaces, sockets, acks, broadcasts.

It runs on the Engine.IO layer (:mod:`roomcast.engine`) and keeps rooms through an adapter
(:mod:`roomcast.rooms`). :class:`Server` is the entry point; the rest is reached from it.
"""

from ..errors import AckTimeoutError, ConnectionRefused, SocketDisconnected
from .broadcast import BroadcastOperator, RemoteSocket
from .handshake import Handshake
from .namespace import Namespace
from .recovery import RecoveryOptions
from .server import Server
from .socket import Socket

__all__ = [
    "AckTimeoutError",
    "BroadcastOperator",
    "ConnectionRefused",
    "Handshake",
    "Namespace",
    "RecoveryOptions",
    "RemoteSocket",
    "Server",
    "Socket",
    "SocketDisconnected",
]
