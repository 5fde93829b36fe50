"""The adapter interface: the seam between one Socket.IO server and a cluster of them.

An adapter belongs to one namespace. It keeps the namespace's room membership and carries
broadcasts to the namespace's sockets (and, for cluster adapters, to other servers).

This package sits below the Socket.IO server, so it does not import it: it reaches the
namespace and its sockets through the small protocols below, which
:class:`roomcast.socketio.namespace.Namespace` and :class:`roomcast.socketio.socket.Socket` satisfy.

How a broadcast reaches the wire: the adapter encodes the packet once
(:func:`roomcast.protocol.socketio.encode_packet`), asks the namespace to wrap the encoded
messages once (:meth:`NamespaceLike.prepare`, which builds the engine's ``PreparedMessage``),
then hands that one object to each recipient (:func:`deliver_local`): a socket open on a
WebSocket takes the frames, built once, through its :attr:`SocketLike.sink` (one call that
queues them on the connection), any other through :meth:`SocketLike.deliver` (the session's
path: polling queue, upgrade, compression, ``on_any_outgoing``): no coroutine, task, encode or
dict per recipient.

Connection state recovery (``Server(connection_state_recovery=...)``, Node's
``connectionStateRecovery``): when :attr:`NamespaceLike.recovery_window` is not None, the
adapter gives each recoverable broadcast an offset and keeps what
:meth:`Adapter.restore_session` needs; the Socket.IO layer calls :meth:`Adapter.persist_session`
when a socket drops for a recoverable reason and :meth:`Adapter.restore_session` when a client
comes back with ``pid`` and ``offset`` in its CONNECT payload.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..protocol.socketio import Packet

__all__ = [
    "Adapter",
    "BroadcastFlags",
    "BroadcastOptions",
    "NamespaceLike",
    "PersistedSession",
    "Prepared",
    "RemoteSocketDetails",
    "RequestTimeout",
    "RestoredSession",
    "SocketLike",
    "deliver_local",
]


class SocketLike(Protocol):
    """What an adapter needs from a connected socket."""

    @property
    def id(self) -> str:
        """The socket's id in its namespace (also the name of its own room)."""
        ...

    def join(self, rooms: str | Collection[str]) -> None:
        """Join one room or several."""
        ...

    def leave(self, room: str) -> None:
        """Leave one room."""
        ...

    def disconnect(self, close: bool = False) -> object:
        """Disconnect from the namespace (``close=True``: close the whole connection)."""
        ...

    def deliver(self, packet: Packet, prepared: Any, volatile: bool) -> bool:
        """Queue an already encoded and prepared broadcast packet; False if it was dropped."""
        ...

    @property
    def sink(self) -> Callable[[bytes, bool], bool] | None:
        """The broadcast fast path, or None: ``sink(prepared.websocket_frames(), volatile)``
        does what :meth:`deliver` would (but calling no ``on_any_outgoing`` listener: a socket
        with one has no sink) in one call; if it returns False, nothing was sent and
        :meth:`deliver` must be called instead."""
        ...

    def expect_ack(self, ack_id: int, callback: Callable[[list[Any]], None]) -> None:
        """Call ``callback(args)`` when the client answers the ack ``ack_id``; if the socket
        disconnects first, ``callback([])``: it counts as answered with nothing."""
        ...

    def forget_ack(self, ack_id: int) -> None:
        """Stop waiting for the ack ``ack_id`` (its deadline passed)."""
        ...


class Prepared(Protocol):
    """A broadcast's messages wrapped once for every recipient (the engine's
    ``PreparedMessage``)."""

    def websocket_frames(self) -> bytes:
        """The messages as uncompressed WebSocket frames, for :attr:`SocketLike.sink`."""
        ...


def deliver_local(
    sockets: Mapping[str, SocketLike],
    sids: Iterable[str],
    packet: Packet,
    prepared: Prepared,
    volatile: bool,
) -> None:
    """Hand a broadcast to each of the sockets ``sids`` still in ``sockets``: through its
    :attr:`~SocketLike.sink` when it has one (the frames are built once, here), else
    :meth:`~SocketLike.deliver`. The broadcast hot path: keep it flat."""
    frames = prepared.websocket_frames()
    for sid in sids:
        socket = sockets.get(sid)
        if socket is not None:
            sink = socket.sink
            if sink is None or not sink(frames, volatile):
                socket.deliver(packet, prepared, volatile)


class NamespaceLike(Protocol):
    """What an adapter needs from its namespace."""

    @property
    def name(self) -> str:
        """The namespace's name, e.g. ``"/"`` or ``"/chat"``."""
        ...

    @property
    def sockets(self) -> Mapping[str, SocketLike]:
        """The connected sockets by id."""
        ...

    def encode(self, packet: Packet) -> list[str | bytes]:
        """Encode ``packet`` with the server's parser (Engine.IO message payloads)."""
        ...

    def prepare(self, messages: Sequence[str | bytes], compress: bool = True) -> Prepared:
        """Wrap Engine.IO message payloads once for delivery to many sockets (``compress``:
        whether a transport with compression negotiated may compress them)."""
        ...

    def next_ack_id(self) -> int:
        """A fresh ack id, unique in the namespace."""
        ...

    @property
    def recovery_window(self) -> float | None:
        """Connection state recovery: how many seconds a disconnected socket's session (and the
        packets it may miss) are kept (``RecoveryOptions.max_disconnection_duration``); None
        when recovery is off. Read it at broadcast and persist time."""
        ...

    def receive_server_side_emit(self, args: list[Any], ack: Callable[[Any], None] | None) -> None:
        """Run this server's handlers of a server-side emit from another server: ``args`` is
        ``[event, *args]`` (not empty); ``ack(value)``, if given, answers the sender (a cluster
        adapter sends the first call only)."""
        ...


@dataclass(frozen=True, slots=True)
class BroadcastFlags:
    """Modifiers of a broadcast, as Node's socket.io names them."""

    volatile: bool = False
    """Drop the packet for a socket that cannot take it right now."""
    compress: bool | None = None
    """``False``: send uncompressed even where the WebSocket negotiated permessage-deflate
    (``None`` or ``True``: compressed there, as Node's default)."""
    local: bool = False
    """Only this server's sockets, even with a cluster adapter."""
    timeout: float | None = None
    """Seconds to wait for acks (broadcast ``emit_with_ack``)."""
    expect_single_response: bool = False
    """The broadcast targets one socket: answer with its response, not a list."""


@dataclass(frozen=True, slots=True)
class BroadcastOptions:
    """Who receives a broadcast: sockets in any of ``rooms`` (everyone if empty) and in none of
    ``except_``, each exactly once."""

    rooms: frozenset[str] = frozenset()
    except_: frozenset[str] = frozenset()
    flags: BroadcastFlags = field(default_factory=BroadcastFlags)


class RequestTimeout(TimeoutError):
    """Other servers did not all answer a cluster request in time; :attr:`responses` holds the
    answers that did arrive."""

    def __init__(self, message: str, responses: list[Any] | None = None) -> None:
        super().__init__(message)
        self.responses = responses if responses is not None else []


@dataclass(slots=True)
class RemoteSocketDetails:
    """A socket of another server, as a cluster adapter's ``fetch_sockets`` reports it (the
    Socket.IO layer wraps it in a proxy that acts through the adapter)."""

    id: str
    handshake: dict[str, Any] = field(default_factory=dict)
    """Node's ``socket.handshake`` fields (``headers``, ``query``, ``auth``, ``address``...)."""
    rooms: set[str] = field(default_factory=set)
    data: Any = None


@dataclass(slots=True)
class PersistedSession:
    """A disconnected socket's state, kept for a later recovery (Node's ``SessionToPersist``)."""

    sid: str
    """The socket's id, given back to the recovered socket."""
    pid: str
    """The private session id the client presents to recover (sent in the CONNECT answer)."""
    rooms: list[str]
    """The rooms the socket was in (its own room included)."""
    data: Any
    """The socket's ``data``."""


@dataclass(slots=True)
class RestoredSession(PersistedSession):
    """A session found again, with what the socket missed (Node's ``Session``)."""

    missed_packets: list[list[Any]]
    """Each missed EVENT's data array, oldest first: event name, arguments, the offset last."""


class Adapter(abc.ABC):
    """Room membership and broadcasting for one namespace.

    Membership changes and broadcasts are synchronous (fire and forget for cluster adapters);
    queries that may need other servers (:meth:`fetch_sockets`, :meth:`server_count`) are
    coroutines. Subclasses: :class:`roomcast.rooms.memory.MemoryAdapter` (one server) and
    cluster adapters built on it.
    """

    requests_timeout: float = 5.0
    """Seconds to wait for other servers' answers (cluster adapters). A broadcast
    ``emit_with_ack`` without a timeout waits this long for remote answers, at most."""

    def __init__(self, nsp: NamespaceLike) -> None:
        self.nsp = nsp

    async def init(self) -> None:  # noqa: B027 - a no-op by default
        """Start background work (subscriptions...). Called once when the namespace is made."""

    async def close(self) -> None:  # noqa: B027 - a no-op by default
        """Stop background work. Called when the server or the namespace closes."""

    async def server_count(self) -> int:
        """How many servers share this namespace (1 without a cluster)."""
        return 1

    # membership

    @abc.abstractmethod
    def add_all(self, sid: str, rooms: Collection[str]) -> None:
        """Put socket ``sid`` in every room of ``rooms``."""

    @abc.abstractmethod
    def del_(self, sid: str, room: str) -> None:
        """Take socket ``sid`` out of ``room``."""

    @abc.abstractmethod
    def del_all(self, sid: str) -> None:
        """Take socket ``sid`` out of every room."""

    @abc.abstractmethod
    def socket_rooms(self, sid: str) -> set[str]:
        """The rooms of local socket ``sid`` (empty if unknown)."""

    @abc.abstractmethod
    def sockets(self, rooms: Collection[str] = ()) -> set[str]:
        """The ids of the local sockets in any of ``rooms`` (all if empty)."""

    # broadcasting

    @abc.abstractmethod
    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Send ``packet`` to every socket ``opts`` selects."""

    @abc.abstractmethod
    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count_callback: Callable[[int], None],
        ack: Callable[[list[Any]], None],
    ) -> None:
        """Send ``packet`` with an ack id to every selected socket.

        ``client_count_callback(n)`` is called once per server with the number of sockets it
        sent to; ``ack(args)`` once per client answer.
        """

    # remote-capable operations on selected sockets

    @abc.abstractmethod
    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Any]:
        """The selected sockets (local ones as the namespace's socket objects)."""

    @abc.abstractmethod
    def add_sockets(self, opts: BroadcastOptions, rooms: Collection[str]) -> None:
        """Make the selected sockets join ``rooms``."""

    @abc.abstractmethod
    def del_sockets(self, opts: BroadcastOptions, rooms: Collection[str]) -> None:
        """Make the selected sockets leave ``rooms``."""

    @abc.abstractmethod
    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        """Disconnect the selected sockets (``close``: close their whole connection)."""

    def server_side_emit(self, args: Sequence[Any]) -> None:  # noqa: B027 - a no-op by default
        """Send ``[event, *args]`` to the namespace on every other server (none by default)."""

    async def server_side_emit_with_ack(
        self, args: Sequence[Any], timeout: float | None = None
    ) -> list[Any]:
        """Send ``[event, *args]`` to every other server and return their answers (one each);
        cluster adapters raise :class:`RequestTimeout` if some are missing after ``timeout``
        seconds (their default if None). No other server by default: no answers."""
        return []

    # connection state recovery

    def persist_session(self, session: PersistedSession) -> None:  # noqa: B027 - a no-op by default
        """Keep ``session`` for ``nsp.recovery_window`` seconds (fire and forget; a later
        persist with the same ``pid`` replaces it). Nothing by default."""

    async def restore_session(self, pid: str, offset: str) -> RestoredSession | None:
        """The session kept under ``pid`` with every recoverable packet it missed since the one
        with ``offset`` (the last one the client got), or None if ``pid`` is unknown or expired
        or ``offset`` is unknown (too old: recovery would leave a gap). An adapter may forget
        the session once restored (the memory adapter does); the Socket.IO layer persists it
        again when it needs to. None by default.

        Offsets are opaque strings the adapter chooses. With recovery on, :meth:`broadcast`
        appends one as the last element of ``packet.data`` of every EVENT packet without ack
        id and not volatile (Node's ``addOffsetIfNecessary``), before encoding, once per
        broadcast, and keeps what this method needs."""
        return None
