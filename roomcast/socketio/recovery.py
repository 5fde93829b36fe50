"""Connection state recovery options (Node's ``connectionStateRecovery``)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RECOVERABLE_REASONS", "RecoveryOptions"]

RECOVERABLE_REASONS = frozenset(
    {
        "transport error",
        "transport close",
        "forced close",
        "ping timeout",
        "server shutting down",
        "forced server close",
    }
)
"""Disconnect reasons after which a socket's session is kept for recovery (Node's list): the
connection went away. A namespace disconnect by either side ends the session for good."""


@dataclass(frozen=True, slots=True)
class RecoveryOptions:
    """``Server(connection_state_recovery=RecoveryOptions(...))``: a client that reconnects
    within ``max_disconnection_duration`` seconds gets back its socket id, rooms and ``data``,
    and every non-volatile event it missed, in order, before anything new."""

    max_disconnection_duration: float = 120.0
    """Seconds a disconnected socket's session (and the packets it may miss) are kept."""
    skip_middlewares: bool = True
    """Whether a recovered socket skips the namespace's connect middleware."""
