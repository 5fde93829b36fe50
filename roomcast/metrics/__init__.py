"""Prometheus metrics of a roomcast server, read from its own counters at scrape time.

``Metrics(io).route()`` serves them at ``/metrics``; ``Metrics(io).render()`` is the text.
Needs the ``metrics`` extra (``prometheus_client``).
"""

from .collector import METRICS, RoomcastCollector
from .exposition import Metrics
from .lag import LoopLag

__all__ = ["METRICS", "LoopLag", "Metrics", "RoomcastCollector"]
