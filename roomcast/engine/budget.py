"""The bytes all of an engine's sessions may hold unsent together (``max_write_buffer_total``).

Accounting is kept off the broadcast hot path: a WebSocket adds the change of its socket's
write buffer once per flush (one integer add per connection per event-loop iteration, whatever
the number of messages), a polling session adds the size of what it queues. The figure can
only be stale upward (a socket buffer drains unseen), so past the limit it is first recomputed
exactly; only if it is still over are sessions cut off, the largest backlog first, until it is
under again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping
from typing import Protocol

from .session import Session, Transport

__all__ = ["OpenWebSocket", "WriteBudget"]

logger = logging.getLogger("roomcast.engine")


class OpenWebSocket(Transport, Protocol):
    """An accepted WebSocket, whatever drives it (the httptools front or ASGI): a session's
    transport that the engine tracks, and the budget counts, until it is gone."""

    session: Session | None

    def start(self) -> None:
        """Handle what arrived before the session was attached; then read on."""

    def refresh_buffered(self) -> int:
        """Account the bytes this connection holds unsent in the budget now; returns them."""


class WriteBudget:
    """The unsent bytes of an engine's sessions, and what to do past ``limit``."""

    __slots__ = ("_handle", "_sessions", "_websockets", "limit", "total")

    def __init__(
        self,
        limit: int | None,
        sessions: Mapping[str, Session],
        websockets: Collection[OpenWebSocket],
    ) -> None:
        self.limit = limit if limit is not None else 1 << 62
        """The most bytes held unsent by all sessions together (``None``: no limit)."""
        self.total = 0
        """Bytes accounted as held unsent (socket write buffers and polling queues)."""
        self._sessions = sessions
        self._websockets = websockets
        self._handle: asyncio.Handle | None = None

    def schedule(self) -> None:
        """Enforce the limit once the current call (a broadcast loop) is over."""
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_soon(self.enforce)

    def enforce(self) -> None:
        """Recompute the total exactly; while past the limit, cut off the largest backlog."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        total = 0
        for ws in self._websockets:
            total += ws.refresh_buffered()
        sessions = list(self._sessions.values())
        for session in sessions:
            total += session.queued_bytes
        self.total = total
        if total <= self.limit:
            return
        sessions.sort(key=lambda session: session.write_buffer_size, reverse=True)
        for session in sessions:
            if self.total <= self.limit:
                break
            if not session.closed:
                session.cut_off(f"write buffer full (server total past {self.limit} bytes)")
