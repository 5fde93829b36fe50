"""The Prometheus collector: reads roomcast's own plain counters when scraped.

Nothing here runs on the hot path. The engine, its sessions, the namespaces and their adapters
keep plain integer counters (see ``Engine.handshakes``, ``Session.received``,
``MemoryAdapter.broadcasts``...); this collector sums them into metric families at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..engine.session import COUNTERS

if TYPE_CHECKING:
    from ..socketio.server import Server
    from .lag import LoopLag

__all__ = ["METRICS", "RoomcastCollector"]

METRICS: dict[str, str] = {
    "roomcast_connections": "Open Engine.IO connections, by transport.",
    "roomcast_handshakes": "Engine.IO sessions opened.",
    "roomcast_refused_requests": "Engine.IO requests refused (handshakes and requests of "
    "sessions), by the error message answered.",
    "roomcast_disconnections": "Engine.IO sessions closed, by reason.",
    "roomcast_namespaces": "Namespaces.",
    "roomcast_sockets": "Connected sockets, by namespace.",
    "roomcast_rooms": "Rooms made by the application (sockets' own rooms not counted), "
    "by namespace.",
    "roomcast_namespace_connects": "Sockets that connected, by namespace.",
    "roomcast_namespace_refusals": "Namespace CONNECTs refused, by namespace and reason "
    "(middleware, Invalid namespace, Too many namespaces).",
    "roomcast_messages_received": "Engine.IO messages received.",
    "roomcast_received_bytes": "Payload bytes received (characters for text messages).",
    "roomcast_messages_sent": "Engine.IO messages sent (direct sends and broadcast deliveries).",
    "roomcast_sent_bytes": "Payload bytes sent (characters for text messages).",
    "roomcast_broadcasts": "Broadcasts to this server's sockets, by namespace (with connection "
    "state recovery on, emits to one socket too: they go through the adapter).",
    "roomcast_broadcast_recipients": "Local sockets addressed by broadcasts, by namespace.",
    "roomcast_volatile_dropped": "Volatile messages dropped because the connection could "
    "not take them.",
    "roomcast_slow_consumers_aborted": "Connections aborted because their write buffer was full.",
    "roomcast_ack_timeouts": "emit_with_ack calls that timed out, by namespace.",
    "roomcast_polling_forwards": "Requests forwarded to the worker owning their session.",
    "roomcast_redis_publish_failures": "Redis messages that could not be published when tried "
    "(kept and sent again once Redis answers, unless counted as lost).",
    "roomcast_redis_messages_lost": "Redis messages lost in an outage: dropped from the full "
    "queue, or written when the connection broke (maybe published, not sent again).",
    "roomcast_redis_reconnects": "Times the Redis subscriber reconnected.",
    "roomcast_event_loop_lag_seconds": "Largest event-loop lag since the previous scrape.",
}
"""Every metric's name (without ``_total``) and help text."""


def _counter(name: str, labels: list[str] | None = None) -> CounterMetricFamily:
    return CounterMetricFamily(name, METRICS[name], labels=labels)


def _gauge(name: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, METRICS[name], labels=labels)


class RoomcastCollector(Collector):
    """A ``prometheus_client`` collector of one :class:`~roomcast.socketio.server.Server`."""

    def __init__(self, io: Server, lag: LoopLag | None = None) -> None:
        self.io = io
        self.lag = lag

    def collect(self) -> Iterator[Metric]:
        """The metric families, read from the server's counters now."""
        yield from self._engine()
        yield from self._namespaces()
        yield from self._cluster()
        if self.lag is not None:
            gauge = _gauge("roomcast_event_loop_lag_seconds")
            gauge.add_metric([], self.lag.take_max())
            yield gauge

    def _engine(self) -> Iterator[Metric]:
        engine = self.io.engine
        sessions = list(engine.sessions.values())
        transports = {"polling": 0, "websocket": 0}
        totals = dict(engine.closed_totals)
        for session in sessions:
            name = session.transport_name
            transports[name] = transports.get(name, 0) + 1
            for counter in COUNTERS:
                totals[counter] += getattr(session, counter)
        connections = _gauge("roomcast_connections", ["transport"])
        for name, count in sorted(transports.items()):
            connections.add_metric([name], count)
        yield connections
        handshakes = _counter("roomcast_handshakes")
        handshakes.add_metric([], engine.handshakes)
        yield handshakes
        yield _by("roomcast_refused_requests", "reason", engine.refusals)
        yield _by("roomcast_disconnections", "reason", engine.closes)
        adapters = [nsp.adapter for nsp in self.io.namespaces.values()]
        sent_messages = totals["sent"] + sum(_int(a, "broadcast_messages") for a in adapters)
        sent_bytes = totals["sent_bytes"] + sum(_int(a, "broadcast_bytes") for a in adapters)
        for name, total in (
            ("roomcast_messages_received", totals["received"]),
            ("roomcast_received_bytes", totals["received_bytes"]),
            ("roomcast_messages_sent", sent_messages),
            ("roomcast_sent_bytes", sent_bytes),
            ("roomcast_volatile_dropped", totals["dropped"]),
            ("roomcast_slow_consumers_aborted", totals["overflowed"]),
        ):
            family = _counter(name)
            family.add_metric([], total)
            yield family

    def _namespaces(self) -> Iterator[Metric]:
        namespaces = self.io.namespaces
        count = _gauge("roomcast_namespaces")
        count.add_metric([], len(namespaces))
        yield count
        sockets = _gauge("roomcast_sockets", ["namespace"])
        rooms = _gauge("roomcast_rooms", ["namespace"])
        connects = _counter("roomcast_namespace_connects", ["namespace"])
        refusals = _counter("roomcast_namespace_refusals", ["namespace", "reason"])
        broadcasts = _counter("roomcast_broadcasts", ["namespace"])
        recipients = _counter("roomcast_broadcast_recipients", ["namespace"])
        timeouts = _counter("roomcast_ack_timeouts", ["namespace"])
        for name, nsp in sorted(namespaces.items()):
            members = nsp.sockets
            adapter = nsp.adapter
            own: Any = getattr(adapter, "rooms", {})
            sockets.add_metric([name], len(members))
            rooms.add_metric([name], sum(1 for room in own if room not in members))
            connects.add_metric([name], nsp.connects)
            refusals.add_metric([name, "middleware"], nsp.refused)
            broadcasts.add_metric([name], _int(adapter, "broadcasts"))
            recipients.add_metric([name], _int(adapter, "recipients"))
            timeouts.add_metric([name], nsp.ack_timeouts)
        for reason, value in sorted(self.io.namespace_refusals.items()):
            refusals.add_metric(["", reason], value)
        yield from (sockets, rooms, connects, refusals, broadcasts, recipients, timeouts)

    def _cluster(self) -> Iterator[Metric]:
        listener = self.io.active_listener
        forwards = _counter("roomcast_polling_forwards")
        forwards.add_metric([], _int(listener, "forwarded"))
        yield forwards
        links = {
            id(link): link
            for nsp in self.io.namespaces.values()
            if (link := getattr(nsp.adapter, "link", None)) is not None
        }
        failures = _counter("roomcast_redis_publish_failures")
        failures.add_metric([], sum(_int(link, "publish_failures") for link in links.values()))
        yield failures
        lost = _counter("roomcast_redis_messages_lost")
        lost.add_metric(
            [],
            sum(_int(link, "dropped") + _int(link, "unconfirmed") for link in links.values()),
        )
        yield lost
        reconnects = _counter("roomcast_redis_reconnects")
        reconnects.add_metric([], sum(_int(link, "reconnects") for link in links.values()))
        yield reconnects


def _int(obj: object, name: str) -> int:
    value = getattr(obj, name, 0)
    return value if isinstance(value, int) else 0


def _by(name: str, label: str, values: dict[str, int]) -> CounterMetricFamily:
    family = _counter(name, [label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family
