"""What the two Redis adapters share: a :class:`MemoryAdapter` that answers the other servers'
requests and keeps track of its own until they are answered.

:class:`~roomcast.rooms.redis.RedisAdapter` (pub/sub) and
:class:`~roomcast.rooms.redis_streams.RedisStreamsAdapter` (stream and pub/sub) speak different
wire formats (:mod:`roomcast.rooms.redis_messages`, :mod:`roomcast.rooms.redis_streams_messages`):
they decode, encode and send; this class holds the logic in between.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..protocol.socketio import Packet
from .adapter import BroadcastOptions, NamespaceLike
from .memory import MemoryAdapter
from .redis_messages import socket_details

__all__ = ["ClusterAdapter", "PendingRequest"]

logger = logging.getLogger("roomcast.redis")

AckCallbacks = tuple[Callable[[int], None], Callable[[list[Any]], None]]


@dataclass(slots=True)
class PendingRequest:
    """A request of this server waiting for the other servers' answers."""

    kind: int
    expected: int
    """Answers (counted in ``received``) that complete it."""
    future: asyncio.Future[list[Any]]
    results: list[Any] = field(default_factory=list)
    received: int = 0

    def answered(self) -> None:
        """Count one more answer (its results added already); the last one expected completes
        the request with ``results``."""
        self.received += 1
        if self.received >= self.expected:
            self.future.set_result(self.results)


class ClusterAdapter(MemoryAdapter):
    """A :class:`MemoryAdapter` working with other servers (base of the Redis adapters): this
    server's pending requests and broadcasts with acks, and the answers to the other servers'
    broadcasts with acks, server-side emits and socket fetches."""

    def __init__(self, nsp: NamespaceLike, *, requests_timeout: float = 5.0) -> None:
        super().__init__(nsp)
        self.requests_timeout = requests_timeout
        self._requests: dict[str, PendingRequest] = {}
        self._ack_requests: dict[str, AckCallbacks] = {}

    def _subscribed(self, active: bool) -> None:
        """Log once at start if Redis did not confirm the namespace's subscriptions yet."""
        if not active:
            logger.warning(
                "Redis did not confirm the subscriptions of namespace %s yet: "
                "serving this server's sockets until it does",
                self.nsp.name,
            )

    # this server's requests

    def _open_request(
        self, request_id: str, kind: int, expected: int, results: list[Any], received: int = 0
    ) -> PendingRequest:
        """Register a request before it is sent; :meth:`_answers` waits for it."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        request = PendingRequest(kind, expected, future, results, received)
        self._requests[request_id] = request
        return request

    async def _answers(self, request_id: str, request: PendingRequest, timeout: float) -> list[Any]:
        """The results of a request once every answer is in; ``TimeoutError`` after ``timeout``
        seconds. The request is forgotten either way."""
        try:
            return await asyncio.wait_for(request.future, timeout)
        finally:
            self._requests.pop(request_id, None)

    def _pending(self, request_id: str) -> PendingRequest | None:
        """The request an answer is for, if it still waits."""
        request = self._requests.get(request_id)
        if request is None or request.future.done():
            return None
        return request

    def _cancel_requests(self) -> None:
        """Stop every pending request (the adapter closes)."""
        for request in self._requests.values():
            if not request.future.done():
                request.future.cancel()
        self._requests.clear()

    # this server's broadcasts with acks

    def _expect_broadcast_answers(
        self,
        request_id: str,
        opts: BroadcastOptions,
        client_count_callback: Callable[[int], None],
        ack: Callable[[list[Any]], None],
    ) -> None:
        """Route the other servers' client counts and acks of the broadcast ``request_id`` to
        the callbacks, until the broadcast's timeout (or ``requests_timeout``)."""
        self._ack_requests[request_id] = (client_count_callback, ack)
        # nothing says when every answer is in: forget the request after the deadline
        timeout = opts.flags.timeout
        asyncio.get_running_loop().call_later(
            timeout if timeout is not None else self.requests_timeout,
            self._ack_requests.pop,
            request_id,
            None,
        )

    def _on_broadcast_answer(
        self, request_id: str, answer: Mapping[str, Any], *, count: bool, ack: bool
    ) -> bool:
        """Hand an answer (``count``: a client count, ``ack``: an ack) to the broadcast it is
        for; False if no broadcast of this server waits under ``request_id``."""
        callbacks = self._ack_requests.get(request_id)
        if callbacks is None:
            return False
        if count:
            clients = answer.get("clientCount")
            callbacks[0](clients if isinstance(clients, int) else 0)
        elif ack:
            callbacks[1]([answer.get("packet")])
        return True

    # answers to the other servers

    def _broadcast_for_remote(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count: Callable[[int], None],
        ack: Callable[[list[Any]], None],
    ) -> None:
        """Deliver another server's broadcast with acks to this server's sockets;
        ``client_count`` and ``ack`` send the answers back. Past the broadcast's timeout, the
        sockets stop waiting for the acks (nobody waits for them any more)."""
        MemoryAdapter.broadcast_with_ack(self, packet, opts, client_count, ack)
        ack_id, timeout = packet.id, opts.flags.timeout
        if ack_id is not None and timeout is not None:
            asyncio.get_running_loop().call_later(timeout, self._forget_ack, ack_id)

    def _forget_ack(self, ack_id: int) -> None:
        for socket in self.nsp.sockets.values():
            socket.forget_ack(ack_id)

    def _receive_server_side_emit(
        self, args: Any, request_id: Any, respond: Callable[[Any], None]
    ) -> None:
        """Hand another server's server-side emit (``[event, *args]``, else ignored) to the
        namespace; with a ``request_id``, the first answer goes back through ``respond``."""
        if not isinstance(args, list) or not args:
            return
        if request_id is None:
            self.nsp.receive_server_side_emit(args, None)
            return
        answered = False

        def answer(value: Any) -> None:
            nonlocal answered
            if answered:
                return
            answered = True
            respond(value)

        self.nsp.receive_server_side_emit(args, answer)

    def _local_socket_details(self, opts: BroadcastOptions) -> list[dict[str, Any]]:
        """What another server's ``fetch_sockets`` gets of this server's sockets ``opts``
        selects."""
        return [socket_details(s) for s in MemoryAdapter._select(self, opts)]
