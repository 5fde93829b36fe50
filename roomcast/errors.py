"""Errors that users of roomcast catch or raise.

Kept in one module at the top of the package, importable by every layer (the JWT middleware raises
:class:`ConnectionRefused` without importing the Socket.IO server).
"""

from __future__ import annotations

from typing import Any

__all__ = ["AckTimeoutError", "ConnectionRefused", "SocketDisconnected"]


class ConnectionRefused(Exception):
    """Raise in a connect middleware to refuse the connection.

    The client gets a CONNECT_ERROR packet ``{"message": message, "data": data}``: Socket.IO
    clients raise it as a ``connect_error`` with ``err.message`` and ``err.data``.
    """

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class AckTimeoutError(TimeoutError):
    """No acknowledgement arrived in time.

    For a broadcast ``emit_with_ack``, :attr:`responses` holds the answers that did arrive
    (in arrival order); for a single socket it is ``None``.
    """

    def __init__(self, message: str = "operation has timed out", responses: Any = None) -> None:
        super().__init__(message)
        self.responses = responses


class SocketDisconnected(ConnectionError):
    """The socket disconnected while an ``emit_with_ack`` waited for its answer."""
