"""Acknowledgements both ways: the ids a socket waits on, and the callables that answer a client.

Ack ids come from the namespace's counter (as in Node), so one broadcast can use the same id
for every recipient. A socket keeps ``id -> callback`` only while it waits; a deadline is a
``loop.call_later`` timer, not a task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ..errors import AckTimeoutError, SocketDisconnected
from ..protocol.socketio import Packet, PacketType

__all__ = ["AckCallback", "AckSender", "AckWaiter", "BroadcastAckCollector", "PendingAcks"]

AckCallback = Callable[[list[Any]], None]
"""Called with the arguments of the client's ACK packet."""


class AckWaiter:
    """Resolves a future with the first argument of one socket's answer, or fails it on timeout
    or disconnection."""

    __slots__ = ("future", "timer")

    def __init__(self, future: asyncio.Future[Any]) -> None:
        self.future = future
        self.timer: asyncio.TimerHandle | None = None
        """The deadline, if any; cancelled on the answer."""

    def __call__(self, args: list[Any]) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if not self.future.done():
            self.future.set_result(ack_value(args))

    def fail(self, exc: BaseException) -> None:
        """Fail the waiting future (no-op if already answered)."""
        if self.timer is not None:
            self.timer.cancel()
        if not self.future.done():
            self.future.set_exception(exc)


def ack_value(args: list[Any]) -> Any:
    """What an awaited ack gives: nothing -> ``None``, one argument -> it, more -> a tuple."""
    if not args:
        return None
    if len(args) == 1:
        return args[0]
    return tuple(args)


class PendingAcks:
    """The acks one socket waits for: ``id -> callback``, at most ``limit`` of them."""

    __slots__ = ("_callbacks", "limit")

    def __init__(self, limit: int | None = None) -> None:
        self._callbacks: dict[int, AckCallback] = {}
        self.limit = limit
        """Most acks waited for; past it the oldest is given up (``None``: no limit)."""

    def add(self, ack_id: int, callback: AckCallback) -> None:
        """Wait for ack ``ack_id``. When ``limit`` acks are already waited for, the oldest is
        dropped: an awaited ``emit_with_ack`` fails with :class:`AckTimeoutError` at once, a
        broadcast simply misses this socket's answer (as if it never came)."""
        callbacks = self._callbacks
        if self.limit is not None and len(callbacks) >= self.limit:
            oldest = next(iter(callbacks))
            dropped = callbacks.pop(oldest)
            if isinstance(dropped, AckWaiter):
                dropped.fail(AckTimeoutError("too many pending acks"))
        callbacks[ack_id] = callback

    def discard(self, ack_id: int) -> None:
        """Stop waiting for ``ack_id`` (after a timeout)."""
        self._callbacks.pop(ack_id, None)

    def resolve(self, ack_id: int, args: list[Any]) -> bool:
        """Run and forget the callback of ``ack_id``; False if nothing waited for it."""
        callback = self._callbacks.pop(ack_id, None)
        if callback is None:
            return False
        callback(args)
        return True

    def close(self) -> None:
        """The socket disconnected: fail every awaited ``emit_with_ack``, and answer every
        broadcast's callback with nothing (``callback([])``), so that a broadcast
        ``emit_with_ack`` counts this socket as answered instead of waiting for it forever.
        (Node lets the broadcast wait for its deadline; without a deadline, it would hang.)"""
        callbacks, self._callbacks = self._callbacks, {}
        for callback in callbacks.values():
            if isinstance(callback, AckWaiter):
                callback.fail(SocketDisconnected("the socket disconnected before it answered"))
            else:
                callback([])

    def __len__(self) -> int:
        return len(self._callbacks)


class AckSender:
    """The callable that answers a client's ack: sends one ACK packet, only the first time."""

    __slots__ = ("_id", "_send", "sent")

    def __init__(self, ack_id: int, send: Callable[[Packet], None]) -> None:
        self._id = ack_id
        self._send = send
        self.sent = False

    def __call__(self, *args: Any) -> None:
        if self.sent:
            return
        self.sent = True
        self._send(Packet(PacketType.ACK, data=list(args), id=self._id))


class BroadcastAckCollector:
    """Gathers the answers to one broadcast ``emit_with_ack`` into a future.

    Completes when every server has said how many clients it sent to and that many answers have
    arrived; on the deadline it fails with :class:`AckTimeoutError` carrying the answers so far.
    """

    __slots__ = (
        "_expected_clients",
        "_expected_servers",
        "_future",
        "_servers",
        "_single",
        "_timer",
        "on_timeout",
        "responses",
    )

    def __init__(
        self, future: asyncio.Future[Any], timeout: float | None, single: bool = False
    ) -> None:
        self._future = future
        self._single = single
        self._expected_servers = -1
        self._servers = 0
        self._expected_clients = 0
        self.responses: list[Any] = []
        self.on_timeout: Callable[[], None] | None = None
        """Called on the deadline, e.g. to forget the ack id on every socket."""
        self._timer = (
            None
            if timeout is None
            else asyncio.get_running_loop().call_later(timeout, self._on_timeout)
        )

    @property
    def done(self) -> bool:
        """Whether the future has its outcome."""
        return self._future.done()

    def client_count(self, count: int) -> None:
        """One server sent the packet to ``count`` clients."""
        self._expected_clients += count
        self._servers += 1
        self._check()

    def server_count(self, count: int) -> None:
        """``count`` servers will report a client count."""
        self._expected_servers = count
        self._check()

    def ack(self, args: list[Any]) -> None:
        """One client answered (its first argument is its response)."""
        if self._future.done():
            return
        self.responses.append(args[0] if args else None)
        self._check()

    def _check(self) -> None:
        if (
            not self._future.done()
            and self._servers == self._expected_servers
            and len(self.responses) == self._expected_clients
        ):
            if self._timer is not None:
                self._timer.cancel()
            if self._single:
                self._future.set_result(self.responses[0] if self.responses else None)
            else:
                self._future.set_result(self.responses)

    def limit_wait(self, seconds: float) -> None:
        """Set a deadline where there was none (answers from other servers may never come)."""
        if self._timer is None and not self._future.done():
            self._timer = asyncio.get_running_loop().call_later(seconds, self._on_timeout)

    def _on_timeout(self) -> None:
        self._timer = None  # the timer, run, still holds self (a cycle) until dropped
        if self.on_timeout is not None:
            self.on_timeout()
        if not self._future.done():
            responses = None if self._single else list(self.responses)
            self._future.set_exception(AckTimeoutError(responses=responses))
