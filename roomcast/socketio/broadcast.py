"""The broadcast builder: ``io.to("room").except_("other").volatile.emit(...)``."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Collection
from typing import Any

from ..protocol.errors import ReservedEventName
from ..protocol.socketio import RESERVED_EVENTS, Packet, PacketType
from ..rooms.adapter import Adapter, BroadcastFlags, BroadcastOptions, RemoteSocketDetails
from .acks import BroadcastAckCollector
from .handshake import Handshake

__all__ = ["BroadcastOperator", "RemoteSocket"]


def _rooms(room: str | Collection[str]) -> frozenset[str]:
    return frozenset((room,)) if isinstance(room, str) else frozenset(room)


class BroadcastOperator:
    """An immutable selection of a namespace's sockets plus flags; every modifier returns a
    new operator. Sockets in any target room (all if none) and in no excluded room are
    selected, each once."""

    __slots__ = ("adapter", "except_rooms", "flags", "rooms")

    def __init__(
        self,
        adapter: Adapter,
        rooms: frozenset[str] = frozenset(),
        except_rooms: frozenset[str] = frozenset(),
        flags: BroadcastFlags = BroadcastFlags(),  # noqa: B008 - frozen, shared safely
    ) -> None:
        self.adapter = adapter
        self.rooms = rooms
        self.except_rooms = except_rooms
        self.flags = flags

    def _with(self, **changes: Any) -> BroadcastOperator:
        return BroadcastOperator(
            self.adapter,
            changes.pop("rooms", self.rooms),
            changes.pop("except_rooms", self.except_rooms),
            dataclasses.replace(self.flags, **changes) if changes else self.flags,
        )

    @property
    def options(self) -> BroadcastOptions:
        """The adapter's view of this selection."""
        return BroadcastOptions(self.rooms, self.except_rooms, self.flags)

    def to(self, room: str | Collection[str]) -> BroadcastOperator:
        """Also target ``room`` (one or several)."""
        return self._with(rooms=self.rooms | _rooms(room))

    in_ = to

    def except_(self, room: str | Collection[str]) -> BroadcastOperator:
        """Exclude the sockets in ``room`` (one or several)."""
        return self._with(except_rooms=self.except_rooms | _rooms(room))

    @property
    def volatile(self) -> BroadcastOperator:
        """Drop the packet for sockets that cannot take it right now."""
        return self._with(volatile=True)

    @property
    def local(self) -> BroadcastOperator:
        """Only this server's sockets."""
        return self._with(local=True)

    def compress(self, compress: bool) -> BroadcastOperator:
        """Ask for compression (where the transport negotiated it)."""
        return self._with(compress=compress)

    def timeout(self, seconds: float) -> BroadcastOperator:
        """Make :meth:`emit_with_ack` fail after ``seconds``."""
        return self._with(timeout=seconds)

    def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` with ``args`` to the selected sockets: encoded once for all."""
        if event in RESERVED_EVENTS:
            raise ReservedEventName(f'"{event}" is a reserved event name')
        options = BroadcastOptions(self.rooms, self.except_rooms, self.flags)  # self.options
        self.adapter.broadcast(Packet(PacketType.EVENT, data=[event, *args]), options)

    async def emit_with_ack(self, event: str, *args: Any) -> Any:
        """Send ``event`` and gather the answers of every selected socket (a list, in arrival
        order). Raises :class:`~roomcast.errors.AckTimeoutError` after ``timeout``
        seconds, carrying the answers received in ``.responses``.

        A socket that disconnects before it answers counts as answering ``None``. Without a
        timeout, the call waits for every local socket, and at most the adapter's
        ``requests_timeout`` for other servers (a server may go away without answering)."""
        if event in RESERVED_EVENTS:
            raise ReservedEventName(f'"{event}" is a reserved event name')
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        collector = BroadcastAckCollector(
            future, self.flags.timeout, single=self.flags.expect_single_response
        )
        packet = Packet(PacketType.EVENT, data=[event, *args])
        self.adapter.broadcast_with_ack(packet, self.options, collector.client_count, collector.ack)
        ack_id = packet.id
        if ack_id is not None:
            collector.on_timeout = lambda: self._forget(ack_id)
        if not collector.done:
            servers = await self.adapter.server_count()
            if servers > 1 and self.flags.timeout is None:
                collector.limit_wait(self.adapter.requests_timeout)
            collector.server_count(servers)
        del collector  # it holds the future: see below
        try:
            return await future
        finally:
            # A failed future keeps its exception, whose traceback holds this frame: without
            # the future in the frame, no reference cycle is left to the garbage collector.
            del future

    def _forget(self, ack_id: int) -> None:
        nsp: Any = self.adapter.nsp
        nsp.ack_timeouts += 1
        for socket in self.adapter.nsp.sockets.values():
            socket.forget_ack(ack_id)

    async def fetch_sockets(self) -> list[Any]:
        """The selected sockets: this server's as :class:`~roomcast.socketio.socket.Socket`,
        other servers' (with a cluster adapter) as :class:`RemoteSocket`."""
        sockets = await self.adapter.fetch_sockets(self.options)
        return [
            RemoteSocket(self.adapter, s) if isinstance(s, RemoteSocketDetails) else s
            for s in sockets
        ]

    async def all_sockets(self) -> set[str]:
        """The ids of the selected local sockets."""
        return self.adapter.sockets(self.rooms)

    def sockets_join(self, room: str | Collection[str]) -> None:
        """Make the selected sockets join ``room`` (one or several)."""
        self.adapter.add_sockets(self.options, _rooms(room))

    def sockets_leave(self, room: str | Collection[str]) -> None:
        """Make the selected sockets leave ``room`` (one or several)."""
        self.adapter.del_sockets(self.options, _rooms(room))

    def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect the selected sockets (``close``: close their whole connections)."""
        self.adapter.disconnect_sockets(self.options, close)

    def __repr__(self) -> str:
        return (
            f"<BroadcastOperator nsp={self.adapter.nsp.name} rooms={sorted(self.rooms)} "
            f"except={sorted(self.except_rooms)} flags={self.flags}>"
        )


class Targets:
    """``to``/``in_``/``except_``/``local``: choosing recipients, for anything that can make a
    :class:`BroadcastOperator` (a socket's excludes the socket itself)."""

    __slots__ = ()

    def _operator(self) -> BroadcastOperator:
        raise NotImplementedError

    def to(self, room: str | Collection[str]) -> BroadcastOperator:
        """Target ``room`` (one or several) for a broadcast."""
        return self._operator().to(room)

    def in_(self, room: str | Collection[str]) -> BroadcastOperator:
        """Same as :meth:`to`."""
        return self._operator().to(room)

    def except_(self, room: str | Collection[str]) -> BroadcastOperator:
        """Exclude the sockets in ``room`` (one or several) from a broadcast."""
        return self._operator().except_(room)

    @property
    def local(self) -> BroadcastOperator:
        """Broadcast to this server's sockets only."""
        return self._operator().local


class Broadcasts(Targets):
    """The broadcast API of a namespace (and of the server, for its main namespace)."""

    __slots__ = ()

    @property
    def volatile(self) -> BroadcastOperator:
        """Broadcast that drops the packet for sockets that cannot take it now."""
        return self._operator().volatile

    def compress(self, compress: bool) -> BroadcastOperator:
        """Broadcast with compression on or off."""
        return self._operator().compress(compress)

    def timeout(self, seconds: float) -> BroadcastOperator:
        """Broadcast whose ``emit_with_ack`` fails after ``seconds``."""
        return self._operator().timeout(seconds)

    def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to every socket of the namespace."""
        self._operator().emit(event, *args)

    def send(self, *args: Any) -> None:
        """Send a ``message`` event to every socket."""
        self._operator().emit("message", *args)

    async def emit_with_ack(self, event: str, *args: Any) -> Any:
        """Send ``event`` to every socket and return every answer (see :meth:`timeout`)."""
        return await self._operator().emit_with_ack(event, *args)

    async def fetch_sockets(self) -> list[Any]:
        """The sockets of the namespace (across servers with a cluster adapter)."""
        return await self._operator().fetch_sockets()

    def sockets_join(self, room: str | Collection[str]) -> None:
        """Make every socket join ``room`` (one or several)."""
        self._operator().sockets_join(room)

    def sockets_leave(self, room: str | Collection[str]) -> None:
        """Make every socket leave ``room`` (one or several)."""
        self._operator().sockets_leave(room)

    def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect every socket (``close``: close their whole connections)."""
        self._operator().disconnect_sockets(close)


_HANDSHAKE_FIELDS = frozenset(Handshake.__dataclass_fields__)


class RemoteSocket:
    """A socket connected to another server of the cluster, from :meth:`fetch_sockets`.

    ``id``, ``handshake``, ``rooms`` and ``data`` are a snapshot taken when it was fetched;
    ``emit``, ``emit_with_ack``, ``join``, ``leave`` and ``disconnect`` act on the real socket
    through the adapter.
    """

    __slots__ = ("_operator", "data", "handshake", "id", "rooms")

    def __init__(self, adapter: Adapter, details: RemoteSocketDetails) -> None:
        self.id = details.id
        known = {k: v for k, v in details.handshake.items() if k in _HANDSHAKE_FIELDS}
        try:
            self.handshake = Handshake(**known)
        except TypeError:
            self.handshake = Handshake()
        self.rooms = set(details.rooms)
        self.data = details.data
        self._operator = BroadcastOperator(
            adapter, frozenset((self.id,)), flags=BroadcastFlags(expect_single_response=True)
        )

    def __repr__(self) -> str:
        return f"<RemoteSocket {self.id}>"

    def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to the socket."""
        self._operator.emit(event, *args)

    async def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """Send ``event`` and return the client's answer (its first argument)."""
        operator = self._operator if timeout is None else self._operator.timeout(timeout)
        return await operator.emit_with_ack(event, *args)

    def join(self, room: str | Collection[str]) -> None:
        """Make the socket join ``room`` (one or several)."""
        self._operator.sockets_join(room)

    def leave(self, room: str | Collection[str]) -> None:
        """Make the socket leave ``room`` (one or several)."""
        self._operator.sockets_leave(room)

    def disconnect(self, close: bool = False) -> RemoteSocket:
        """Disconnect the socket (``close``: its whole connection)."""
        self._operator.disconnect_sockets(close)
        return self
