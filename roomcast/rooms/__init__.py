"""Room membership and the adapters that carry broadcasts between one server and many."""

from .adapter import (
    Adapter,
    BroadcastFlags,
    BroadcastOptions,
    NamespaceLike,
    PersistedSession,
    RestoredSession,
    SocketLike,
)
from .memory import MemoryAdapter
from .registry import RoomRegistry

__all__ = [
    "Adapter",
    "BroadcastFlags",
    "BroadcastOptions",
    "MemoryAdapter",
    "NamespaceLike",
    "PersistedSession",
    "RestoredSession",
    "RoomRegistry",
    "SocketLike",
]
