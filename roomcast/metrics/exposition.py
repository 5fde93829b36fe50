"""Serving the metrics: a registry holding one server's collector, rendered as Prometheus text."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from ..engine.http import Request, Response
from .collector import RoomcastCollector
from .lag import LoopLag

if TYPE_CHECKING:
    from ..engine.listener import Listener
    from ..socketio.server import Server

__all__ = ["Metrics"]


class Metrics:
    """The Prometheus metrics of ``io``: ``Metrics(io).render()`` is the text a scrape gets.

    ``registry`` (a ``prometheus_client.CollectorRegistry``, a new one by default) receives
    the collector, so the application can add its own metrics there. :meth:`route` serves
    :meth:`render` on a listener (``GET /metrics``); in another framework, call
    :meth:`render` from its handler. The event-loop lag is measured once :meth:`start` was
    called (the route calls it at the first scrape, ``roomcast serve --metrics`` at start).
    """

    def __init__(self, io: Server, registry: CollectorRegistry | None = None) -> None:
        self.io = io
        self.lag = LoopLag()
        self.registry = registry if registry is not None else CollectorRegistry()
        self.registry.register(RoomcastCollector(io, self.lag))

    def start(self) -> None:
        """Start measuring the event-loop lag (call it with the loop running)."""
        self.lag.start()

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric, read now."""
        return generate_latest(self.registry)

    def route(self, listener: Listener | None = None, path: str = "/metrics") -> None:
        """Serve :meth:`render` at ``GET path`` on ``listener`` (default: ``io.listener``)."""
        (listener or self.io.listener).route("GET", path, self._serve)

    def _serve(self, request: Request) -> Response:
        self.lag.start()
        return Response(200, [("Content-Type", CONTENT_TYPE_LATEST)], self.render())
