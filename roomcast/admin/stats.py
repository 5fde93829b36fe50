"""The ``server_stats`` the Admin UI plots: this server's identity, counts, and the traffic since
the previous report, read from the counters the engine and the adapters keep anyway."""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING, Any

from ..engine.session import COUNTERS

if TYPE_CHECKING:
    from ..socketio.server import Server

__all__ = ["ServerStats"]

_STARTED = time.monotonic()


class ServerStats:
    """Builds successive ``server_stats`` payloads for ``io`` (see :meth:`report`)."""

    __slots__ = ("_previous", "base", "io")

    def __init__(self, io: Server, server_id: str | None = None) -> None:
        self.io = io
        hostname = socket.gethostname()
        self.base = {"serverId": server_id or hostname, "hostname": hostname, "pid": os.getpid()}
        self._previous = self._counters()

    def _counters(self) -> dict[str, Any]:
        engine = self.io.engine
        totals = dict(engine.closed_totals)
        for session in engine.sessions.values():
            for name in COUNTERS:
                totals[name] += getattr(session, name)
        packets_out, bytes_out = totals["sent"], totals["sent_bytes"]
        for nsp in self.io.namespaces.values():
            packets_out += getattr(nsp.adapter, "broadcast_messages", 0)
            bytes_out += getattr(nsp.adapter, "broadcast_bytes", 0)
        return {
            "rawConnection": engine.handshakes,
            "rawDisconnection": dict(engine.closes),
            "packetsIn": totals["received"],
            "packetsOut": packets_out,
            "bytesIn": totals["received_bytes"],
            "bytesOut": bytes_out,
        }

    def report(self) -> dict[str, Any]:
        """The next payload: ``aggregatedEvents`` holds what happened since the previous one,
        stamped with the current second (as Node's admin server buffers them per second)."""
        now, previous = self._counters(), self._previous
        self._previous = now
        second = int(time.time()) * 1000
        events: list[dict[str, Any]] = []
        for kind, value in now.items():
            if kind == "rawDisconnection":
                for reason, count in value.items():
                    delta = count - previous[kind].get(reason, 0)
                    if delta > 0:
                        events.append(
                            {"timestamp": second, "type": kind, "subType": reason, "count": delta}
                        )
            elif value > previous[kind]:
                events.append({"timestamp": second, "type": kind, "count": value - previous[kind]})
        engine = self.io.engine
        polling = sum(1 for s in engine.sessions.values() if s.transport_name == "polling")
        return {
            **self.base,
            "uptime": time.monotonic() - _STARTED,
            "clientsCount": len(engine.sessions),
            "pollingClientsCount": polling,
            "aggregatedEvents": events,
            "namespaces": [
                {"name": name, "socketsCount": len(nsp.sockets)}
                for name, nsp in self.io.namespaces.items()
            ],
        }
