"""The Redis Streams adapter: rooms, broadcasts and recoverable sessions across many servers.

Wire-compatible with Node's ``@socket.io/redis-streams-adapter`` 0.3 with its default options
(stream, channels, entries and session keys in :mod:`roomcast.rooms.redis_streams_messages`),
so roomcast and Node socket.io servers can share one Redis::

    from roomcast import Server
    from roomcast.rooms.redis_streams import redis_streams_adapter

    io = Server(adapter=redis_streams_adapter("redis://localhost:6379/0"))

Broadcasts and remote joins, leaves and disconnects are appended to one Redis stream, which
every server reads; requests that need answers go through pub/sub. The stream keeps the last
``max_len`` entries (about), so a client that reconnects, to any server, gets the broadcasts it
missed since its last offset (connection state recovery).

Beyond Node: while a socket is connected, its session (id, private id, rooms, data) is kept
in Redis under the key Node uses for a disconnected socket, written when its rooms change and
refreshed (and rewritten if its data changed) every half recovery window; so when a server
dies without a clean shutdown, its clients can still recover their sessions on another server,
roomcast or Node. Those writes only change the key while it holds what this server wrote last:
once a session was restored elsewhere, its old server leaves it alone.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import secrets
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio import connection as redis_connection

from ..protocol.socketio import Packet, PacketType
from .adapter import (
    BroadcastOptions,
    NamespaceLike,
    PersistedSession,
    RequestTimeout,
    RestoredSession,
    deliver_local,
)
from .cluster_adapter import ClusterAdapter
from .memory import MemoryAdapter
from .redis_link import RedisLink
from .redis_messages import (
    decode_msgpack,
    decode_opts,
    decode_packet,
    encode_msgpack,
    encode_opts,
    encode_packet,
    remote_socket,
    strings,
)
from .redis_streams_messages import (
    MessageType,
    decode_entry,
    decode_session,
    encode_entry,
    encode_session,
    is_offset,
    next_offset,
    reaches,
)

__all__ = ["RedisStreamsAdapter", "StreamsLink", "redis_streams_adapter"]

logger = logging.getLogger("roomcast.redis")

RESTORE_MAX_READS = 100
"""XRANGE calls at most when gathering a session's missed packets (as Node)."""
RESTORE_BATCH = 1000
"""Entries per XRANGE call when gathering them."""
RESTORE_SLOTS = 16
"""Sessions restored at once at most (a quarter of the Redis client's pool if that is less)."""
_BACKOFF_MIN = 0.05
_BACKOFF_MAX = 2.0


def redis_streams_adapter(
    client: Redis | str,
    *,
    stream_name: str = "socket.io",
    channel_prefix: str = "socket.io",
    session_key_prefix: str = "sio:session:",
    max_len: int = 10_000,
    read_count: int = 100,
    block_time: float = 5.0,
    requests_timeout: float = 5.0,
    live_sessions: bool = True,
) -> Callable[[NamespaceLike], RedisStreamsAdapter]:
    """The ``adapter=`` of a :class:`~roomcast.socketio.server.Server` sharing rooms through a
    Redis stream, as Node's ``createAdapter`` of ``@socket.io/redis-streams-adapter``.

    ``client``: a ``redis.asyncio.Redis`` client (``decode_responses`` off) or a URL.
    ``stream_name``, ``channel_prefix``, ``session_key_prefix``, ``max_len`` (entries the stream
    keeps, about), ``read_count`` (entries per read), ``block_time`` (seconds a read waits):
    Node's options of the same meaning. ``requests_timeout``: seconds to wait for the other
    servers' answers. ``live_sessions``: keep connected sockets' sessions in Redis too, so they
    survive a crash of this server (needs connection state recovery on). Give each Server its
    own factory: its namespaces share one stream reader and one subscriber connection.
    """
    link: StreamsLink | None = None

    def factory(nsp: NamespaceLike) -> RedisStreamsAdapter:
        nonlocal link
        if link is None or link.closed:
            link = StreamsLink(
                client,
                stream_name=stream_name,
                max_len=max_len,
                read_count=read_count,
                block_time=block_time,
            )
        return RedisStreamsAdapter(
            nsp,
            link,
            channel_prefix=channel_prefix,
            session_key_prefix=session_key_prefix,
            requests_timeout=requests_timeout,
            live_sessions=live_sessions,
        )

    return factory


class StreamsLink:
    """One server's side of the stream, shared by its namespaces' adapters: the
    :class:`RedisLink` (commands in order, pub/sub) and one task reading the stream, which hands
    each entry to the adapter of its namespace. The reader survives Redis outages: it reconnects
    with backoff and goes on after the last entry it read."""

    def __init__(
        self,
        client: Redis | str,
        *,
        stream_name: str = "socket.io",
        max_len: int = 10_000,
        read_count: int = 100,
        block_time: float = 5.0,
    ) -> None:
        self.redis = RedisLink(client)
        self.stream_name = stream_name
        self.max_len = max_len
        self.read_count = read_count
        self.block_ms = max(1, round(block_time * 1000))
        kwargs = self.redis.client.connection_pool.connection_kwargs
        # a client made without one (from a URL) has the connection's default: 5 s in redis-py 8
        timeout = kwargs.get(
            "socket_timeout", getattr(redis_connection, "DEFAULT_SOCKET_TIMEOUT", None)
        )
        if isinstance(timeout, int | float) and timeout > 0:  # a read must not time out
            self.block_ms = max(1, min(self.block_ms, round(timeout * 500)))
        self.adapters: dict[str, RedisStreamsAdapter] = {}
        self._reader: asyncio.Task[None] | None = None
        self._last_id = b"$"
        pool_size = getattr(self.redis.client.connection_pool, "max_connections", None)
        slots = RESTORE_SLOTS if not isinstance(pool_size, int) else pool_size // 4
        self.restores = asyncio.Semaphore(max(1, min(RESTORE_SLOTS, slots)))
        """Restores reading Redis at once (each holds a pooled connection): the others wait
        (a restore that cannot get a connection would fail and its client lose its session)."""
        self._replayable: dict[bytes, tuple[list[Any], BroadcastOptions] | None] = {}

    def replayable(
        self, entry_id: bytes, fields: dict[bytes, bytes]
    ) -> tuple[list[Any], BroadcastOptions] | None:
        """A broadcast entry's packet data and options (None if it is not one), decoded once
        for every restore that reads it (many clients of a restarted server read the same
        entries at once). Keeps about the stream's length of them."""
        try:
            return self._replayable[entry_id]
        except KeyError:
            pass
        decoded = decode_entry(fields)
        found: tuple[list[Any], BroadcastOptions] | None = None
        if decoded is not None and isinstance(decoded[3], dict):
            packet, opts = decoded[3].get("packet"), decode_opts(decoded[3].get("opts"))
            if isinstance(packet, dict) and isinstance(packet.get("data"), list):
                found = (packet["data"], opts)
        cache = self._replayable
        cache[entry_id] = found
        if len(cache) > self.max_len + RESTORE_BATCH:
            del cache[next(iter(cache))]
        return found

    @property
    def closed(self) -> bool:
        """Whether the link was closed (by its last adapter)."""
        return self.redis.closed

    def xadd(self, fields: list[str | bytes], on_id: Callable[[Any], None] | None = None) -> None:
        """Append an entry (trimming the stream to about ``max_len``); ``on_id(entry id)``, or
        ``on_id(None)`` if it failed. Queued in order with every other command of the server."""
        command = ("XADD", self.stream_name, "MAXLEN", "~", self.max_len, "*", *fields)
        self.redis.send(command, on_id)

    async def start(self, adapter: RedisStreamsAdapter) -> None:
        """Route the stream's entries of ``adapter``'s namespace to it; the first call starts
        reading after the stream's current last entry."""
        self.adapters[adapter.nsp.name] = adapter
        self.redis.users += 1
        if self._reader is None:
            try:
                last = await self.redis.command("XREVRANGE", self.stream_name, "+", "-", "COUNT", 1)
                self._last_id = last[0][0] if last else b"0-0"
            except (redis_errors.RedisError, OSError) as exc:
                logger.warning("cannot read the Redis stream %s yet: %s", self.stream_name, exc)
            self._reader = asyncio.get_running_loop().create_task(self._read_loop())

    async def stop(self, adapter: RedisStreamsAdapter) -> None:
        """Stop routing to ``adapter``; the last one closes the link."""
        if self.adapters.get(adapter.nsp.name) is adapter:
            del self.adapters[adapter.nsp.name]
        self.redis.users -= 1
        if self.redis.users <= 0:
            if self._reader is not None:
                self._reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._reader
                self._reader = None
            await self.redis.close()

    async def _read_loop(self) -> None:
        delay = _BACKOFF_MIN
        down = False
        client = self.redis.client
        stream = self.stream_name
        while True:
            try:
                answer = await client.xread(
                    {stream: self._last_id}, count=self.read_count, block=self.block_ms
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not down:
                    logger.warning("reading the Redis stream %s failed (%s); retrying", stream, exc)
                down = True
                await asyncio.sleep(delay)  # backoff before retrying, not a synchronisation
                delay = min(delay * 2, _BACKOFF_MAX)
                continue
            if down:
                logger.warning("reading the Redis stream %s works again", stream)
                down = False
            delay = _BACKOFF_MIN
            streams: Any = answer or []
            for _, entries in streams:
                for entry_id, fields in entries:
                    self._last_id = entry_id
                    self._dispatch(entry_id, fields)

    def position(self) -> tuple[int, int] | None:
        """The id of the last entry the reader handed over (None before it knows one)."""
        return _entry_id(self._last_id)

    def _dispatch(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        nsp = fields.get(b"nsp")
        if not nsp:
            return
        adapter = self.adapters.get(nsp.decode(errors="replace"))
        if adapter is None:
            return
        try:
            adapter._on_entry(entry_id.decode(), fields)
        except Exception:
            logger.exception("handling the stream entry %s failed", entry_id)


@dataclass(slots=True)
class _Live:
    """What was last written of a connected socket's session."""

    pid: str
    written: bytes
    lost: bool = False
    """The key no longer holds what this server wrote: the session was restored elsewhere (or
    Redis lost it); this server leaves the key alone from then on."""


_IF_UNCHANGED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == 'set' then redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
elseif ARGV[2] == 'expire' then redis.call('PEXPIRE', KEYS[1], ARGV[4])
else redis.call('DEL', KEYS[1]) end
return 1
"""
"""Set, extend or delete a live session key only if it still holds what this server wrote."""


class RedisStreamsAdapter(ClusterAdapter):
    """A :class:`MemoryAdapter` that carries every operation to the other servers through a
    Redis stream and pub/sub, and keeps sessions in Redis (see the module docstring). Made by
    :func:`redis_streams_adapter`."""

    def __init__(
        self,
        nsp: NamespaceLike,
        link: StreamsLink,
        *,
        channel_prefix: str = "socket.io",
        session_key_prefix: str = "sio:session:",
        requests_timeout: float = 5.0,
        live_sessions: bool = True,
    ) -> None:
        super().__init__(nsp, requests_timeout=requests_timeout)
        self.link = link
        self.redis = link.redis
        self.uid = secrets.token_hex(8)
        self.public_channel = f"{channel_prefix}#{nsp.name}#"
        self.private_channel = f"{channel_prefix}#{nsp.name}#{self.uid}#"
        self._response_prefix = self.public_channel
        self.session_key_prefix = session_key_prefix
        self.live_sessions = live_sessions
        self._waiting: collections.deque[list[Callable[[], None]]] = collections.deque()
        """Local deliveries in call order; an empty slot waits for its entry id."""
        self._started = False
        self._own_uid = self.uid.encode()
        self._calls = 0
        """Slots ever queued in ``_waiting`` (a broadcast's number: its slot's)."""
        self._done = 0
        """How many of those slots were delivered (in order)."""
        self._own_last: tuple[int, int] | None = None
        """The entry id of this server's last broadcast that Redis confirmed (in call order:
        they go out on one connection)."""
        self._late: dict[str, tuple[tuple[int, int], int]] = {}
        """Sockets just restored, each with the stream's entry its restore ended at and the
        number of this server's last broadcast before it: until the reader and this server's
        local deliveries pass those, the socket gets what came after and nothing before."""
        # crash-proof sessions: sids whose rooms changed since the last write, what was written
        self._dirty: set[str] = set()
        self._flush_scheduled = False
        self._live: dict[str, _Live] = {}
        self._persisted: set[str] = set()
        self._refresher: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<RedisStreamsAdapter nsp={self.nsp.name} uid={self.uid}>"

    # life cycle

    async def init(self) -> None:
        """Start reading the stream and subscribe to the namespace's channels (waiting a little
        for Redis to confirm)."""
        if self._started:
            return
        self._started = True
        await self.link.start(self)
        active = await self.redis.subscribe(
            {self.public_channel: self._on_pubsub, self.private_channel: self._on_pubsub},
            {},
            timeout=self.requests_timeout,
        )
        self._subscribed(active)

    async def close(self) -> None:
        """Unsubscribe and stop reading; the last adapter of the server closes the link. The
        live sessions of sockets still connected stay in Redis until they expire."""
        if not self._started:
            return
        self._started = False
        if self._refresher is not None:
            self._refresher.cancel()
            self._refresher = None
        await self.redis.unsubscribe([self.public_channel, self.private_channel], [])
        self._cancel_requests()
        await self.link.stop(self)

    async def server_count(self) -> int:
        """``PUBSUB NUMSUB`` of the namespace's public channel, as Node counts (1 when Redis is
        unreachable: then only this one is served)."""
        return await self.redis.count_servers(self.public_channel)

    # publishing

    def _message(self, kind: MessageType, data: dict[str, Any]) -> bytes:
        return encode_msgpack(
            {"type": int(kind), "data": data, "uid": self.uid, "nsp": self.nsp.name}
        )

    def _append(
        self, kind: MessageType, data: dict[str, Any], on_id: Callable[[Any], None] | None = None
    ) -> None:
        self.link.xadd(encode_entry(self.uid, self.nsp.name, kind, data), on_id)

    def _respond(self, requester: Any, kind: MessageType, data: dict[str, Any]) -> None:
        if isinstance(requester, str):
            self.redis.publish(f"{self._response_prefix}{requester}#", self._message(kind, data))

    # broadcasting

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        packet.nsp = self.nsp.name
        if opts.flags.local:
            recipients = self.registry.select(opts.rooms, opts.except_)
            if self._waiting:  # behind the broadcasts waiting for their offsets
                self._waiting.append([lambda: self._deliver(packet, opts, recipients)])
                self._calls += 1  # a slot too: _done counts the slots
            else:
                self._deliver(packet, opts, recipients)
            return
        data = {"packet": encode_packet(packet), "opts": encode_opts(opts)}
        if self.nsp.recovery_window is None:
            self._append(MessageType.BROADCAST, data)
            self._deliver(packet, opts, self.registry.select(opts.rooms, opts.except_))
            return
        # as Node: the local delivery waits for the entry's id, the packet's offset; it goes to
        # the members at the moment of the call, after the earlier broadcasts of this server
        recipients = self.registry.select(opts.rooms, opts.except_)
        tag = _takes_offset(packet, opts)

        slot: list[Callable[[], None]] = []
        self._waiting.append(slot)
        self._calls = number = self._calls + 1

        def deliver(entry_id: Any) -> None:
            if entry_id is not None:
                self._own_last = _entry_id(entry_id)
                if tag:
                    packet.data.append(
                        entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                    )
            slot.append(lambda: self._deliver_own(packet, opts, recipients, number, entry_id))
            waiting = self._waiting
            while waiting and waiting[0]:  # in the order of the calls
                waiting.popleft()[0]()
                self._done += 1
            if self._late:
                self._prune_late()

        self._append(MessageType.BROADCAST, data, deliver)

    def _deliver(self, packet: Packet, opts: BroadcastOptions, recipients: Iterable[str]) -> None:
        """The local delivery of a broadcast: one encode, then each recipient's queue (not
        MemoryAdapter.broadcast: the stream, not memory, keeps what sessions may miss)."""
        prepared = self.nsp.prepare(self.encode(packet), opts.flags.compress is not False)
        deliver_local(self.nsp.sockets, recipients, packet, prepared, opts.flags.volatile)

    def _deliver_own(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        recipients: Collection[str],
        number: int,
        entry_id: Any,
    ) -> None:
        """The local delivery of this server's broadcast ``number``. While sockets were just
        restored: not to one whose restore gave it the entry already, and also to one restored
        after the call (so not among its recipients) if the entry came after its restore."""
        late = self._late
        entry = _entry_id(entry_id) if late and entry_id is not None else None
        if entry is None:
            self._deliver(packet, opts, recipients)
            return
        chosen = [sid for sid in recipients if sid not in late or entry > late[sid][0]]
        for sid, (end, last_call) in late.items():
            if (
                number <= last_call
                and entry > end
                and sid not in recipients
                and reaches(list(self.registry.rooms_of(sid)), opts)
            ):
                chosen.append(sid)
        self._deliver(packet, opts, chosen)

    def _prune_late(self) -> None:
        """Forget the restored sockets the reader and the local deliveries have passed."""
        position = self.link.position()
        for sid, (end, last_call) in list(self._late.items()):
            if self._done >= last_call and (position is None or position >= end):
                del self._late[sid]

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count_callback: Callable[[int], None],
        ack: Callable[[list[Any]], None],
    ) -> None:
        packet.nsp = self.nsp.name
        if not opts.flags.local:
            request_id = secrets.token_hex(8)
            data = {
                "packet": encode_packet(packet),
                "requestId": request_id,
                "opts": encode_opts(opts),
            }
            self.redis.publish(self.public_channel, self._message(MessageType.BROADCAST, data))
            self._expect_broadcast_answers(request_id, opts, client_count_callback, ack)
        super().broadcast_with_ack(packet, opts, client_count_callback, ack)

    # operations on selected sockets

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Any]:
        local = await super().fetch_sockets(opts)
        if opts.flags.local:
            return local
        data = {"opts": encode_opts(opts)}
        timeout = opts.flags.timeout
        return await self._ask(MessageType.FETCH_SOCKETS, data, local, timeout, "fetch_sockets")

    async def _ask(
        self,
        kind: MessageType,
        data: dict[str, Any],
        results: list[Any],
        timeout: float | None,
        what: str,
    ) -> list[Any]:
        expected = await self.server_count() - 1
        if expected <= 0:
            return results
        request_id = secrets.token_hex(8)
        request = self._open_request(request_id, kind, expected, results)
        self.redis.publish(
            self.public_channel, self._message(kind, {**data, "requestId": request_id})
        )
        try:
            return await self._answers(request_id, request, timeout or self.requests_timeout)
        except TimeoutError:
            raise RequestTimeout(
                f"timeout reached while waiting for {what} response: only {request.received} "
                f"responses received out of {expected}",
                list(results),
            ) from None

    def add_sockets(self, opts: BroadcastOptions, rooms: Collection[str]) -> None:
        if not opts.flags.local:
            self._append(
                MessageType.SOCKETS_JOIN, {"opts": encode_opts(opts), "rooms": list(rooms)}
            )
        super().add_sockets(opts, rooms)

    def del_sockets(self, opts: BroadcastOptions, rooms: Collection[str]) -> None:
        if not opts.flags.local:
            self._append(
                MessageType.SOCKETS_LEAVE, {"opts": encode_opts(opts), "rooms": list(rooms)}
            )
        super().del_sockets(opts, rooms)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        if not opts.flags.local:
            self._append(
                MessageType.DISCONNECT_SOCKETS, {"opts": encode_opts(opts), "close": close}
            )
        super().disconnect_sockets(opts, close)

    # server-side emits

    def server_side_emit(self, args: Sequence[Any]) -> None:
        data = {"packet": list(args)}
        self.redis.publish(self.public_channel, self._message(MessageType.SERVER_SIDE_EMIT, data))

    async def server_side_emit_with_ack(
        self, args: Sequence[Any], timeout: float | None = None
    ) -> list[Any]:
        data = {"packet": list(args)}
        return await self._ask(MessageType.SERVER_SIDE_EMIT, data, [], timeout, "server_side_emit")

    # messages from other servers

    def _on_entry(self, entry_id: str, fields: dict[bytes, bytes]) -> None:
        if fields.get(b"uid") == self._own_uid:
            return  # this server's own entry, done locally already
        decoded = decode_entry(fields)
        if decoded is None:
            logger.debug("ignored a malformed stream entry %s", entry_id)
            return
        uid, nsp, kind, data = decoded
        self._on_message({"uid": uid, "nsp": nsp, "type": kind, "data": data}, entry_id)

    def _on_pubsub(self, channel: str, payload: bytes) -> None:
        try:
            message = decode_msgpack(payload)
        except Exception:
            message = None
        if not isinstance(message, dict):
            logger.debug("ignored a malformed message on %s", channel)
            return
        self._on_message(message, None)

    def _on_message(self, message: dict[str, Any], offset: str | None) -> None:
        if message.get("uid") == self.uid or message.get("nsp") != self.nsp.name:
            return
        kind = message.get("type")
        data = message.get("data")
        if not isinstance(data, dict):
            return
        if kind == MessageType.BROADCAST:
            packet = decode_packet(data.get("packet"))
            if packet is None:
                return
            opts = decode_opts(data.get("opts"))
            if "requestId" in data:
                self._answer_broadcast(message.get("uid"), data.get("requestId"), packet, opts)
                return
            recovering = offset is not None and self.nsp.recovery_window is not None
            if recovering and _takes_offset(packet, opts):
                packet.data.append(offset)
            recipients = self.registry.select(opts.rooms, opts.except_)
            if self._late and offset is not None:
                entry = _entry_id(offset)
                late = self._late
                # what a socket's restore gave it already does not come twice
                recipients = [
                    sid
                    for sid in recipients
                    if sid not in late or entry is None or entry > late[sid][0]
                ]
                self._deliver(packet, opts, recipients)
                self._prune_late()
                return
            self._deliver(packet, opts, recipients)
        elif kind == MessageType.SOCKETS_JOIN:
            MemoryAdapter.add_sockets(
                self, decode_opts(data.get("opts")), strings(data.get("rooms"))
            )
        elif kind == MessageType.SOCKETS_LEAVE:
            MemoryAdapter.del_sockets(
                self, decode_opts(data.get("opts")), strings(data.get("rooms"))
            )
        elif kind == MessageType.DISCONNECT_SOCKETS:
            opts = decode_opts(data.get("opts"))
            MemoryAdapter.disconnect_sockets(self, opts, bool(data.get("close")))
        elif kind == MessageType.FETCH_SOCKETS:
            opts = decode_opts(data.get("opts"))
            sockets = self._local_socket_details(opts)
            response = {"requestId": data.get("requestId"), "sockets": sockets}
            self._respond(message.get("uid"), MessageType.FETCH_SOCKETS_RESPONSE, response)
        elif kind == MessageType.SERVER_SIDE_EMIT:
            self._server_side_event(message.get("uid"), data)
        elif kind in _RESPONSES:
            self._on_response(kind, data)

    def _answer_broadcast(
        self, requester: Any, request_id: Any, packet: Packet, opts: BroadcastOptions
    ) -> None:
        def client_count(count: int) -> None:
            data = {"requestId": request_id, "clientCount": count}
            self._respond(requester, MessageType.BROADCAST_CLIENT_COUNT, data)

        def ack(args: list[Any]) -> None:
            data = {"requestId": request_id, "packet": args[0] if args else None}
            self._respond(requester, MessageType.BROADCAST_ACK, data)

        self._broadcast_for_remote(packet, opts, client_count, ack)

    def _server_side_event(self, requester: Any, data: dict[str, Any]) -> None:
        request_id = data.get("requestId")

        def respond(value: Any) -> None:
            response = {"requestId": request_id, "packet": value}
            self._respond(requester, MessageType.SERVER_SIDE_EMIT_RESPONSE, response)

        self._receive_server_side_emit(data.get("packet"), request_id, respond)

    def _on_response(self, kind: int, data: dict[str, Any]) -> None:
        request_id = data.get("requestId")
        if not isinstance(request_id, str):
            return
        count, ack = kind == MessageType.BROADCAST_CLIENT_COUNT, kind == MessageType.BROADCAST_ACK
        if self._on_broadcast_answer(request_id, data, count=count, ack=ack):
            return
        request = self._pending(request_id)
        if request is None:
            return
        if kind == MessageType.FETCH_SOCKETS_RESPONSE and request.kind is MessageType.FETCH_SOCKETS:
            sockets = data.get("sockets")
            if not isinstance(sockets, list):
                return
            request.results.extend(remote_socket(s) for s in sockets if isinstance(s, dict))
        elif (
            kind == MessageType.SERVER_SIDE_EMIT_RESPONSE
            and request.kind is MessageType.SERVER_SIDE_EMIT
        ):
            request.results.append(data.get("packet"))
        else:
            return
        request.answered()

    # connection state recovery

    def _session_key(self, pid: str) -> str:
        return self.session_key_prefix + pid

    def _window_ms(self) -> int:
        window = self.nsp.recovery_window
        return max(1, round((window if window is not None else 0) * 1000))

    def persist_session(self, session: PersistedSession) -> None:
        """Store ``session`` for the recovery window, as Node does (fire and forget)."""
        self._persisted.add(session.sid)
        try:
            encoded = encode_session(session)
        except (TypeError, ValueError, OverflowError) as exc:
            logger.warning("cannot keep the session of %s in Redis: %s", session.sid, exc)
            return
        key = self._session_key(session.pid)
        live = self._live.get(session.sid)
        if live is None or live.pid != session.pid:
            self.redis.send(("SET", key, encoded, "PX", self._window_ms()))
        elif not live.lost:  # not if it was restored elsewhere meanwhile
            self._if_unchanged(session.sid, live, "set", encoded, self._window_ms())

    async def restore_session(self, pid: str, offset: str) -> RestoredSession | None:
        """The session stored under ``pid`` (taken: a session is restored once) with the
        broadcasts of the stream after ``offset`` that would have reached it, but volatile ones
        (as the memory adapter; Node's streams adapter replays those); None if the session or
        the offset is unknown (expired, or trimmed from the stream)."""
        if not is_offset(offset):
            return None
        async with self.link.restores:
            return await self._restore_session(pid, offset)

    async def _restore_session(self, pid: str, offset: str) -> RestoredSession | None:
        stream = self.link.stream_name
        async with self.redis.client.pipeline(transaction=True) as pipe:
            pipe.get(self._session_key(pid))
            pipe.delete(self._session_key(pid))
            pipe.xrange(stream, offset, offset)
            raw, _, found = await pipe.execute()
        if not raw or not found:
            return None
        session = decode_session(raw)
        if session is None:
            return None
        # taken: if the socket is back on this server, its session is live again, no longer
        # kept for a later recovery (else it would not be written while it is connected)
        self._persisted.discard(session.sid)
        rooms = session.rooms
        missed: list[list[Any]] = []
        for _ in range(RESTORE_MAX_READS):
            entries = await self.redis.command(
                "XRANGE", stream, next_offset(offset), "+", "COUNT", RESTORE_BATCH
            )
            if not entries:
                # the reader may have handed over entries after ``offset`` meanwhile, and this
                # server's own broadcasts may have been delivered (Redis confirmed them after
                # this read ran, but before its answer came): either went to the socket's
                # rooms without it (it joins once this returns), so read on to have them
                end = _entry_id(offset)
                if end is None:
                    break
                position, own = self.link.position(), self._own_last
                if (position is None or position <= end) and (own is None or own <= end):
                    break
                continue
            for entry_id, fields in entries:
                offset = entry_id.decode()
                if fields.get(b"type") != b"3" or fields.get(b"nsp") != self.nsp.name.encode():
                    continue
                replayable = self.link.replayable(entry_id, fields)
                if replayable is None:
                    continue
                data, opts = replayable
                if reaches(rooms, opts) and not opts.flags.volatile:  # as in memory; Node differs
                    missed.append([*data, offset])
        end = _entry_id(offset)
        if end is not None:
            self._late[session.sid] = (end, self._calls)
            self._prune_late()
        return RestoredSession(session.sid, session.pid, rooms, session.data, missed)

    # crash-proof sessions (beyond Node): connected sockets' sessions kept in Redis

    def add_all(self, sid: str, rooms: Collection[str]) -> None:
        super().add_all(sid, rooms)
        self._changed(sid)

    def del_(self, sid: str, room: str) -> None:
        super().del_(sid, room)
        self._changed(sid)

    def del_all(self, sid: str) -> None:
        super().del_all(sid)
        self._dirty.discard(sid)
        self._late.pop(sid, None)
        live = self._live.pop(sid, None)
        persisted = sid in self._persisted
        self._persisted.discard(sid)
        if live is not None and not persisted and not live.lost:
            # gone for good (not recoverable): its session must not be restored
            self._if_unchanged(sid, live, "del", b"", 0)

    def session_changed(self, sid: str) -> None:
        """Write socket ``sid``'s session to Redis soon (call it after changing its ``data``
        to have the change survive a crash before the next refresh)."""
        self._changed(sid)

    def _changed(self, sid: str) -> None:
        if not self.live_sessions or self.nsp.recovery_window is None:
            return
        self._dirty.add(sid)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _ttl_ms(self) -> int:
        """A live session outlives a crash by the recovery window (and at most one refresh)."""
        return self._window_ms() + round(self._refresh_interval() * 1000)

    def _refresh_interval(self) -> float:
        window = self.nsp.recovery_window or 0.0
        return max(window / 2, 0.5)

    def _flush(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, set()
        for sid in dirty:
            self._write_live(sid, refresh=False)
        if self._live and self._refresher is None and self._started:
            self._refresher = asyncio.get_running_loop().create_task(self._refresh_loop())

    def _write_live(self, sid: str, *, refresh: bool) -> None:
        socket = self.nsp.sockets.get(sid)
        pid = getattr(socket, "pid", None)
        if socket is None or not isinstance(pid, str) or sid in self._persisted:
            return
        rooms = list(self.registry.rooms_of(sid))
        try:
            encoded = encode_session(
                PersistedSession(sid, pid, rooms, getattr(socket, "data", None))
            )
        except (TypeError, ValueError, OverflowError) as exc:
            logger.debug("cannot keep the session of %s in Redis: %s", sid, exc)
            return
        live = self._live.get(sid)
        if live is None or live.pid != pid:  # a new connection: its own key
            self._live[sid] = _Live(pid, encoded)
            self.redis.send(("SET", self._session_key(pid), encoded, "PX", self._ttl_ms()))
        elif live.lost:
            return
        elif live.written == encoded:
            if refresh:
                self._if_unchanged(sid, live, "expire", b"", self._ttl_ms())
        else:
            previous, live.written = live.written, encoded
            self._if_unchanged(sid, live, "set", encoded, self._ttl_ms(), previous)

    def _if_unchanged(
        self,
        sid: str,
        live: _Live,
        action: str,
        value: bytes,
        ms: int,
        expected: bytes | None = None,
    ) -> None:
        """Run ``action`` on the live session's key if it still holds ``expected`` (what was
        last written); mark the session lost otherwise."""
        key = self._session_key(live.pid)
        old = live.written if expected is None else expected

        def done(changed: Any) -> None:
            if changed == 0:
                live.lost = True

        command = ("EVAL", _IF_UNCHANGED, 1, key, old, action, value, ms)
        self.redis.send(command, done)

    async def _refresh_loop(self) -> None:
        """Every half window: extend each live session's expiry, rewriting the changed ones."""
        while self._started:
            await asyncio.sleep(self._refresh_interval())  # a period, not a synchronisation
            for sid in list(self._live):
                self._write_live(sid, refresh=True)


_RESPONSES = (
    MessageType.FETCH_SOCKETS_RESPONSE,
    MessageType.SERVER_SIDE_EMIT_RESPONSE,
    MessageType.BROADCAST_CLIENT_COUNT,
    MessageType.BROADCAST_ACK,
)


def _entry_id(value: str | bytes) -> tuple[int, int] | None:
    """A stream entry id as numbers, to compare (None if it is not one: ``$``)."""
    text = value.decode() if isinstance(value, bytes) else value
    ms, _, seq = text.partition("-")
    if not (ms.isdigit() and seq.isdigit()):
        return None
    return int(ms), int(seq)


def _takes_offset(packet: Packet, opts: BroadcastOptions) -> bool:
    """Whether a broadcast carries its offset (Node's addOffsetIfNecessary): events without
    ack, not volatile."""
    return packet.type is PacketType.EVENT and packet.id is None and not opts.flags.volatile
