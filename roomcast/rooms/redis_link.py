"""One server's connection to Redis: a publishing client and one subscriber, both surviving
outages.

Publishing never blocks the caller: :meth:`RedisLink.publish` queues the message and one writer
task sends the queue in pipelined batches, in order. While Redis is unreachable the writer
logs what it could not publish (and drops it), then retries with exponential backoff; the queue
is bounded. The subscriber task reads every channel and pattern of every namespace of the server
on one connection; when the connection is lost it reconnects with backoff and subscribes again.
Nothing here raises into the event loop or into the Socket.IO server.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

__all__ = ["Handler", "RedisLink"]

logger = logging.getLogger("roomcast.redis")

Handler = Callable[[str, bytes], None]
"""``handler(channel, message)`` for a subscribed channel or pattern."""

_ERRORS = (redis_errors.RedisError, OSError, asyncio.TimeoutError)
BACKOFF_MIN = 0.05
BACKOFF_MAX = 2.0
MAX_QUEUE = 10_000
BATCH = 256


class RedisLink:
    """The Redis side of one server, shared by its namespaces' adapters.

    ``client`` is a ``redis.asyncio.Redis`` (``decode_responses`` off) or a URL such as
    ``redis://localhost:6379/0``. A URL's client is made here (no retries of its own: this class
    does the backoff) and closed by :meth:`close`; a given client is left open.
    """

    def __init__(self, client: Redis | str, *, connect_timeout: float = 5.0) -> None:
        if isinstance(client, str):
            self.client = Redis.from_url(
                client,
                socket_connect_timeout=connect_timeout,
                retry=Retry(NoBackoff(), 0),
            )
            self._own_client = True
        else:
            self.client = client
            self._own_client = False
        self._channels: dict[str, Handler] = {}
        self._patterns: dict[str, Handler] = {}
        self._confirmed: set[str] = set()
        self._waiters: list[tuple[frozenset[str], asyncio.Future[bool]]] = []
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._queue: collections.deque[tuple[str, bytes]] = collections.deque()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._dropped = 0
        self._publish_down = False
        self._closed = False
        self.users = 0
        """How many adapters use the link (the last one to close closes it)."""
        self.publish_failures = 0
        """Messages that could not be published (dropped), for metrics."""
        self.reconnects = 0
        """Times the subscriber connection was made again after it was lost, for metrics."""

    def __repr__(self) -> str:
        return f"<RedisLink channels={len(self._channels)} patterns={len(self._patterns)}>"

    # subscribing

    async def subscribe(
        self,
        channels: Mapping[str, Handler],
        patterns: Mapping[str, Handler],
        timeout: float | None = None,
    ) -> bool:
        """Route messages of ``channels`` and ``patterns`` to their handlers. Wait up to
        ``timeout`` seconds for Redis to confirm them; return whether it did (False at once if
        Redis cannot be reached: they become active once it is back)."""
        names = {*channels, *patterns}
        taken = names & (self._channels.keys() | self._patterns.keys())
        if taken:
            raise ValueError(
                f"already subscribed to {sorted(taken)}: give each Server its own redis_adapter()"
            )
        self._channels.update(channels)
        self._patterns.update(patterns)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        waiter = (frozenset(names), future)
        self._waiters.append(waiter)
        pubsub = self._pubsub
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._read_loop())
        elif pubsub is not None:
            with contextlib.suppress(*_ERRORS):  # the reader resubscribes after a reconnect
                if patterns:
                    await pubsub.psubscribe(*patterns)
                if channels:
                    await pubsub.subscribe(*channels)
        self._check_waiters()
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return False
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    async def unsubscribe(self, channels: list[str], patterns: list[str]) -> None:
        """Stop routing ``channels`` and ``patterns``."""
        for name in channels:
            self._channels.pop(name, None)
            self._confirmed.discard(name)
        for name in patterns:
            self._patterns.pop(name, None)
            self._confirmed.discard(name)
        pubsub = self._pubsub
        if pubsub is not None:
            with contextlib.suppress(*_ERRORS):
                for name in channels:
                    await pubsub.unsubscribe(name)
                for name in patterns:
                    await pubsub.punsubscribe(name)

    def _check_waiters(self) -> None:
        for names, future in self._waiters:
            if not future.done() and names <= self._confirmed:
                future.set_result(True)

    def _fail_waiters(self) -> None:
        for _, future in self._waiters:
            if not future.done():
                future.set_result(False)

    async def _read_loop(self) -> None:
        delay = BACKOFF_MIN
        down = False
        while not self._closed:
            pubsub = self.client.pubsub()
            try:
                self._confirmed.clear()
                await pubsub.connect()  # type: ignore[no-untyped-call]
                self._pubsub = pubsub  # from now on, subscribe() also sends on this connection
                # patterns first: once Redis counts the channels (PUBSUB NUMSUB), the patterns
                # sent before them on this connection are active too
                if self._patterns:
                    await pubsub.psubscribe(*self._patterns)
                if self._channels:
                    await pubsub.subscribe(*self._channels)
                if down:
                    self.reconnects += 1
                    logger.warning("Redis subscriber reconnected")
                    down = False
                delay = BACKOFF_MIN
                while not self._closed:
                    message = await pubsub.get_message(timeout=None)
                    if message is not None:
                        self._on_message(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # anything from redis: log, back off, reconnect
                if not down and not self._closed:
                    logger.warning("Redis subscriber lost (%s); reconnecting", exc)
                down = True
                self._fail_waiters()
            finally:
                self._pubsub = None
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            if not self._closed:
                await asyncio.sleep(delay)  # backoff before reconnecting, not a synchronisation
                delay = min(delay * 2, BACKOFF_MAX)

    def _on_message(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "pmessage":
            pattern = _text(message["pattern"])
            handler = self._patterns.get(pattern)
        elif kind == "message":
            handler = self._channels.get(_text(message["channel"]))
        else:
            if kind in ("subscribe", "psubscribe"):
                self._confirmed.add(_text(message["channel"]))
                self._check_waiters()
            return
        if handler is None:
            return
        try:
            handler(_text(message["channel"]), message["data"])
        except Exception:
            logger.exception("handling a Redis message on %s failed", message["channel"])

    # publishing

    def publish(self, channel: str, message: bytes) -> None:
        """Queue ``message`` for ``channel``; returns at once."""
        if self._closed:
            return
        queue = self._queue
        if len(queue) >= MAX_QUEUE:
            queue.popleft()
            self._dropped += 1
            self.publish_failures += 1
        queue.append((channel, message))
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())
        self._wake.set()

    async def _write_loop(self) -> None:
        delay = BACKOFF_MIN
        queue = self._queue
        while True:
            await self._wake.wait()
            self._wake.clear()
            while queue:
                batch = [queue.popleft() for _ in range(min(BATCH, len(queue)))]
                try:
                    await self._send(batch)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._publish_failed(batch, exc)
                    await asyncio.sleep(delay)  # backoff, not a synchronisation
                    delay = min(delay * 2, BACKOFF_MAX)
                    continue
                delay = BACKOFF_MIN
                if self._publish_down:
                    self._publish_down = False
                    logger.warning("Redis publishing works again")
                if self._dropped:
                    logger.warning("%d queued Redis messages were dropped", self._dropped)
                    self._dropped = 0

    async def _send(self, batch: list[tuple[str, bytes]]) -> None:
        try:
            await self._send_once(batch)
        except (redis_errors.ConnectionError, OSError):
            # a pooled connection that died with the server fails once; a new one may work
            await self._send_once(batch)

    async def _send_once(self, batch: list[tuple[str, bytes]]) -> None:
        if len(batch) == 1:
            await self.client.publish(*batch[0])
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for channel, message in batch:
                pipe.publish(channel, message)
            await pipe.execute()

    def _publish_failed(self, batch: list[tuple[str, bytes]], exc: BaseException) -> None:
        channels = collections.Counter(channel for channel, _ in batch)
        summary = ", ".join(f"{n} to {channel}" for channel, n in channels.most_common(5))
        level = logging.DEBUG if self._publish_down else logging.WARNING
        self.publish_failures += len(batch)
        self._publish_down = True
        logger.log(level, "could not publish %d Redis messages (%s): %s", len(batch), summary, exc)

    # queries

    async def numsub(self, channel: str) -> int:
        """``PUBSUB NUMSUB channel``: how many connections subscribe to ``channel``."""
        command = ("PUBSUB", "NUMSUB", channel)
        try:
            answer = await self.client.execute_command(*command)  # type: ignore[no-untyped-call]
        except (redis_errors.ConnectionError, OSError):  # see _send
            answer = await self.client.execute_command(*command)  # type: ignore[no-untyped-call]
        return int(answer[0][1] if isinstance(answer[0], tuple | list) else answer[1])

    # life cycle

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    async def close(self) -> None:
        """Stop both tasks, try to send what is queued, close the client if made here."""
        if self._closed:
            return
        if self._queue:
            batch = list(self._queue)
            self._queue.clear()
            with contextlib.suppress(*_ERRORS):
                await asyncio.wait_for(self._send(batch), 1.0)
        self._closed = True
        for task in (self._reader, self._writer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._own_client:
            with contextlib.suppress(*_ERRORS):
                await self.client.aclose()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
