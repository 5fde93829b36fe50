"""Event-loop lag: how late the loop runs a callback it was asked to run at a given time."""

from __future__ import annotations

import asyncio

__all__ = ["LoopLag"]


class LoopLag:
    """Measures the event loop's lag with one timer callback every ``interval`` seconds.

    Each tick records how much later than asked the loop ran it: a loop busy with other work
    (a long handler, a huge broadcast) runs it late. :attr:`last` is the latest lag,
    :meth:`take_max` the largest since it was last called (what a scrape reports). No task and
    no allocation per tick beyond the timer handle.
    """

    __slots__ = ("_due", "_handle", "_loop", "_max", "interval", "last")

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.last = 0.0
        """The lag of the latest tick, in seconds."""
        self._max = 0.0
        self._due = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None

    @property
    def running(self) -> bool:
        """Whether the ticks are scheduled."""
        return self._handle is not None

    def start(self) -> None:
        """Start ticking on the running loop (no-op if started)."""
        if self._handle is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._schedule()

    def stop(self) -> None:
        """Stop ticking."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def take_max(self) -> float:
        """The largest lag since the previous call (the latest one if no tick since)."""
        result = max(self._max, self.last)
        self._max = 0.0
        return result

    def _schedule(self) -> None:
        loop = self._loop
        assert loop is not None
        self._due = loop.time() + self.interval
        self._handle = loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        assert self._loop is not None
        if self._loop.is_closed():
            self._handle = None
            return
        lag = max(0.0, self._loop.time() - self._due)
        self.last = lag
        if lag > self._max:
            self._max = lag
        self._schedule()
