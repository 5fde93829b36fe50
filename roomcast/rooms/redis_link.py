"""One server's connection to Redis: a publishing client and one subscriber, both surviving
outages.

Publishing never blocks the caller: :meth:`RedisLink.publish` queues the message and one writer
task sends the queue in pipelined batches, in order. A batch Redis could not be sent goes back to
the head of the queue, and the writer retries with exponential backoff; once Redis answers again
it first waits until this server has subscribed again and the other servers are back as well (the
subscriber counts of the link's channels are what they were before, or ``RESUME_WAIT`` is over),
then sends the queue in order. The queue is bounded: when it is full the oldest message is
dropped, and the drops are counted and logged. A batch that was written when the connection broke
may have been published or not: it is not sent again (at most once, never twice), and counted.
The subscriber task reads every channel and pattern of every namespace of the server on one
connection; when the connection is lost it reconnects with backoff and subscribes again.
Nothing here raises into the event loop or into the Socket.IO server.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

__all__ = ["Command", "Handler", "RedisLink", "ResultHandler"]

logger = logging.getLogger("roomcast.redis")

Handler = Callable[[str, bytes], None]
"""``handler(channel, message)`` for a subscribed channel or pattern."""
Command = tuple[Any, ...]
"""A Redis command and its arguments, e.g. ``("PUBLISH", channel, message)``."""
ResultHandler = Callable[[Any], None]
"""``on_result(answer)`` of a queued command (None if it failed or was dropped)."""

_ERRORS = (redis_errors.RedisError, OSError, asyncio.TimeoutError)
BACKOFF_MIN = 0.05
BACKOFF_MAX = 2.0
MAX_QUEUE = 10_000
BATCH = 256
RESUME_WAIT = 5.0
"""Seconds the writer waits at most, after Redis came back, for the subscribers to return."""
CENSUS_INTERVAL = 1.0
"""Seconds between two counts of the subscribers of the link's channels while all is well."""


class _Unsent(Exception):
    """Nothing of the batch reached Redis: it can be sent again as it is."""


class _Broken(Exception):
    """The connection broke once the batch was written: its first ``confirmed`` commands were
    carried out (their ``answers``), the fate of the others is unknown."""

    def __init__(self, answers: list[Any]) -> None:
        super().__init__(len(answers))
        self.answers = answers
        self.confirmed = len(answers)


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
        self._queue: collections.deque[tuple[Command, ResultHandler | None]] = collections.deque()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._in_flight = 0
        self._subscribed = asyncio.Event()
        self._census: dict[str, int] = {}
        self._census_at = 0.0
        self._subscribed_at = 0.0
        self._lost_subscription = False
        self._rejoined = False
        self._publish_down = False
        self._outage_dropped = 0
        self._outage_unconfirmed = 0
        self.dropped = 0
        """Messages dropped, in all, because the queue was full."""
        self.unconfirmed = 0
        """Messages written to Redis as the connection broke, in all: maybe published, not
        sent again."""
        self._closed = False
        self.users = 0
        """How many adapters use the link (the last one to close closes it)."""
        self.publish_failures = 0
        """Messages that could not be published when tried (kept for a retry, or lost: see
        ``dropped`` and ``unconfirmed``), for metrics."""
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
            self._census.pop(name, None)
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
        if not self._subscribed.is_set() and self._confirmed >= (
            self._channels.keys() | self._patterns.keys()
        ):
            self._subscribed.set()
            self._subscribed_at = asyncio.get_running_loop().time()
            self._rejoined, self._lost_subscription = self._lost_subscription, False
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
                self._subscribed.clear()
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
                self._lost_subscription = True
                self._fail_waiters()
            finally:
                self._pubsub = None
                self._confirmed.clear()
                self._subscribed.clear()
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

    # publishing (and other commands sent in order, without waiting)

    def publish(self, channel: str, message: bytes) -> None:
        """Queue ``message`` for ``channel``; returns at once."""
        self.send(("PUBLISH", channel, message))

    def send(self, command: Command, on_result: ResultHandler | None = None) -> None:
        """Queue ``command`` (e.g. ``("XADD", ...)``); returns at once. Commands go out in the
        order they were queued, pipelined, under the same outage rules as publishes;
        ``on_result(answer)`` is called once: with Redis's answer, or with None if the command
        failed, was dropped, may not have been carried out, or is kept for after an outage."""
        if self._closed:
            if on_result is not None:
                _call(on_result, None)
            return
        queue = self._queue
        queue.append((command, on_result))
        if len(queue) > MAX_QUEUE:
            self._drop_oldest()
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())
        self._wake.set()

    def _drop_oldest(self) -> None:
        queue = self._queue
        first = not self._outage_dropped
        while len(queue) > MAX_QUEUE:
            _, on_result = queue.popleft()
            if on_result is not None:
                _call(on_result, None)
            self.dropped += 1
            self._outage_dropped += 1
        if first or self._outage_dropped % MAX_QUEUE == 0:
            logger.warning(
                "Redis publish queue full (%d messages): dropping the oldest, %d dropped so far",
                MAX_QUEUE,
                self._outage_dropped,
            )

    async def _write_loop(self) -> None:
        delay = BACKOFF_MIN
        queue = self._queue
        while True:
            await self._wake.wait()
            self._wake.clear()
            while queue:
                await self._wait_resume()
                if not queue:
                    break
                batch = [queue.popleft() for _ in range(min(BATCH, len(queue)))]
                self._in_flight = len(batch)
                try:
                    answers = await self._send(batch)
                    self._in_flight = 0
                except _Unsent as exc:  # back to the head of the queue, in order
                    self._in_flight = 0
                    queue.extendleft(reversed(batch))
                    _release(queue)
                    if len(queue) > MAX_QUEUE:
                        self._drop_oldest()
                    self._publish_failed(batch, exc.__cause__ or exc)
                    await asyncio.sleep(delay)  # backoff, not a synchronisation
                    delay = min(delay * 2, BACKOFF_MAX)
                    continue
                except Exception as exc:  # written, then lost: maybe published, not resent
                    self._in_flight = 0
                    done = exc.answers if isinstance(exc, _Broken) else []
                    confirmed = len(done)
                    self.unconfirmed += len(batch) - confirmed
                    self._outage_unconfirmed += len(batch) - confirmed
                    if confirmed < len(batch):
                        self._publish_failed(batch[confirmed:], exc.__cause__ or exc)
                    _answer(batch, done)
                    continue
                _answer(batch, answers)
                delay = BACKOFF_MIN
                if self._publish_down:
                    self._publish_down = False
                    logger.warning(
                        "Redis publishing works again; during the outage %d messages were "
                        "dropped (queue full) and %d were lost in transit (not resent)",
                        self._outage_dropped,
                        self._outage_unconfirmed,
                    )
                    self._outage_dropped = self._outage_unconfirmed = 0

    async def _wait_resume(self) -> None:
        """Before a batch: wait while this server is not subscribed (unless it never was: then
        nobody is known to listen), and just after it subscribed again wait for the other
        servers, until the subscriber counts of the link's channels are back to the last ones
        seen (at most until ``RESUME_WAIT`` s after this server's own subscription)."""
        if self._reader is None or not self._subscribed_at:
            return
        if not self._subscribed.is_set():
            if not self._publish_down:
                reason = "this server's subscription is down: kept, sent in order once it is back"
                self._publish_failed(list(self._queue), reason)
            _release(self._queue)
            await self._subscribed.wait()
        if not self._rejoined or not self._subscribed.is_set():
            return
        loop = asyncio.get_running_loop()
        census = self._census
        while census and self._subscribed.is_set():
            if loop.time() >= self._subscribed_at + RESUME_WAIT:
                logger.warning(
                    "Redis: not all the other servers subscribed again within %.0f s; "
                    "sending what was kept anyway",
                    RESUME_WAIT,
                )
                break
            with contextlib.suppress(*_ERRORS):
                counts = await self._count(list(census))
                if all(counts.get(name, 0) >= n for name, n in census.items()):
                    break
            await asyncio.sleep(BACKOFF_MIN)  # polling Redis, not a synchronisation
        self._rejoined = False

    async def _count(self, channels: list[str]) -> dict[str, int]:
        return _counts(await self.command("PUBSUB", "NUMSUB", *channels))

    async def _send(self, batch: list[tuple[Command, ResultHandler | None]]) -> list[Any]:
        """Send ``batch`` in one round trip and return the answers (None for a command Redis
        refused): :class:`_Unsent` if no connection could be had (nothing was written),
        :class:`_Broken` if the connection broke once it was."""
        commands: list[Command] = [command for command, _ in batch]
        channels = list(self._channels)
        now = time.monotonic()
        census = bool(  # while all is well: the counts to wait for after an outage
            channels
            and self._subscribed.is_set()
            and not self._rejoined
            and now - self._census_at >= CENSUS_INTERVAL
        )
        if census:
            commands.append(("PUBSUB", "NUMSUB", *channels))
        pool = self.client.connection_pool
        try:
            connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        except Exception as exc:
            raise _Unsent() from exc
        try:
            try:
                stale = await connection.can_read()
            except Exception:
                stale = True
            if stale:  # closed by Redis (a restart) or not clean: write nothing on it
                await connection.disconnect()
                await connection.connect()
        except Exception as exc:
            await pool.release(connection)
            raise _Unsent() from exc
        answers: list[Any] = []
        refused: list[str] = []
        try:
            try:
                await connection.send_packed_command(connection.pack_commands(commands), False)
                for command in commands[: len(batch)]:
                    try:
                        answers.append(await connection.read_response())
                    except redis_errors.ResponseError as exc:  # answered: not sent again
                        refused.append(f"{_target(command)}: {exc}")
                        answers.append(None)
                if census:
                    self._census = _counts(await connection.read_response())
                    self._census_at = now
            except Exception as exc:
                raise _Broken(answers) from exc
        finally:
            await pool.release(connection)
            if refused:
                logger.warning("Redis refused %d commands (%s)", len(refused), refused[0])
        return answers

    def _publish_failed(
        self, batch: list[tuple[Command, ResultHandler | None]], exc: BaseException | str
    ) -> None:
        channels = collections.Counter(_target(command) for command, _ in batch)
        summary = ", ".join(f"{n} to {channel}" for channel, n in channels.most_common(5))
        level = logging.DEBUG if self._publish_down else logging.WARNING
        self.publish_failures += len(batch)
        self._publish_down = True
        logger.log(level, "could not publish %d Redis messages (%s): %s", len(batch), summary, exc)

    # queries

    async def command(self, *args: Any) -> Any:
        """Run one Redis command now and return its answer (retried once on a dead pooled
        connection)."""
        try:
            return await self.client.execute_command(*args)  # type: ignore[no-untyped-call]
        except (redis_errors.ConnectionError, OSError):
            # a pooled connection that died with the server fails once; a new one may work
            return await self.client.execute_command(*args)  # type: ignore[no-untyped-call]

    async def numsub(self, channel: str) -> int:
        """``PUBSUB NUMSUB channel``: how many connections subscribe to ``channel``."""
        answer = await self.command("PUBSUB", "NUMSUB", channel)
        return int(answer[0][1] if isinstance(answer[0], tuple | list) else answer[1])

    async def count_servers(self, channel: str) -> int:
        """The servers of a namespace: the subscribers of its ``channel`` every server
        subscribes to (at least 1); 1, logged, when Redis cannot be reached (then only this
        server is served)."""
        try:
            return max(1, await self.numsub(channel))
        except Exception as exc:
            logger.warning("cannot count servers through Redis: %s", exc)
            return 1

    @property
    def pending(self) -> int:
        """Messages queued or being sent."""
        return len(self._queue) + self._in_flight

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
            answers: list[Any] = []
            with contextlib.suppress(Exception):
                answers = await asyncio.wait_for(self._send(batch), 1.0)
            _answer(batch, answers)
        self._closed = True
        for task in (self._reader, self._writer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._own_client:
            with contextlib.suppress(*_ERRORS):
                await self.client.aclose()


def _release(queue: collections.deque[tuple[Command, ResultHandler | None]]) -> None:
    """Commands kept for later: whoever waits for an answer gets None now (and no answer
    later), so that nothing waits for Redis through an outage; the commands stay queued."""
    for index, (command, on_result) in enumerate(queue):
        if on_result is not None:
            queue[index] = (command, None)
            _call(on_result, None)


def _answer(batch: list[tuple[Command, ResultHandler | None]], answers: list[Any]) -> None:
    """Give each command of ``batch`` its answer (None past the answers there are)."""
    for index, (_, on_result) in enumerate(batch):
        if on_result is not None:
            _call(on_result, answers[index] if index < len(answers) else None)


def _call(on_result: ResultHandler, answer: Any) -> None:
    try:
        on_result(answer)
    except Exception:
        logger.exception("handling the answer of a Redis command failed")


def _target(command: Command) -> str:
    """What a command was for, for the log: ``PUBLISH <channel>``, ``XADD <stream>``."""
    name = _text(command[0]) if isinstance(command[0], str | bytes) else str(command[0])
    if len(command) > 1 and isinstance(command[1], str | bytes):
        return f"{name} {_text(command[1])}"
    return name


def _counts(answer: Any) -> dict[str, int]:
    """``PUBSUB NUMSUB``'s flat answer as ``{channel: subscribers}``."""
    return {_text(answer[i]): int(answer[i + 1]) for i in range(0, len(answer) - 1, 2)}


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
