"""The in-memory adapter: rooms and broadcasts for a single server."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import Any

from ..protocol.socketio import Packet
from .adapter import Adapter, BroadcastOptions, NamespaceLike, SocketLike
from .registry import RoomRegistry

__all__ = ["MemoryAdapter"]


class MemoryAdapter(Adapter):
    """Keeps the namespace's rooms in a :class:`RoomRegistry` and broadcasts to local sockets.

    The default adapter. Cluster adapters extend it: they keep the local registry and add the
    traffic to other servers.
    """

    def __init__(self, nsp: NamespaceLike) -> None:
        super().__init__(nsp)
        self.registry = RoomRegistry()
        self.encode = nsp.encode
        """The namespace's parser's encoder (looked up once, not per broadcast)."""

    @property
    def rooms(self) -> dict[str, set[str]]:
        """``room -> sids`` (the registry's own dict: read it, don't change it)."""
        return self.registry.rooms

    @property
    def sids(self) -> dict[str, set[str]]:
        """``sid -> rooms`` (the registry's own dict: read it, don't change it)."""
        return self.registry.sids

    def add_all(self, sid: str, rooms: Collection[str]) -> None:
        self.registry.add_all(sid, rooms)

    def del_(self, sid: str, room: str) -> None:
        self.registry.remove(sid, room)

    def del_all(self, sid: str) -> None:
        self.registry.remove_all(sid)

    def socket_rooms(self, sid: str) -> set[str]:
        return self.registry.rooms_of(sid)

    def sockets(self, rooms: Collection[str] = ()) -> set[str]:
        return {socket.id for socket in self._select(BroadcastOptions(frozenset(rooms)))}

    def _select(self, opts: BroadcastOptions) -> Iterator[SocketLike]:
        """The connected local sockets ``opts`` selects, each once (the members when called:
        joining or leaving meanwhile changes nothing; a socket gone meanwhile is skipped)."""
        sockets = self.nsp.sockets
        for sid in self.registry.select(opts.rooms, opts.except_):
            socket = sockets.get(sid)
            if socket is not None:
                yield socket

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        packet.nsp = self.nsp.name
        prepared = self.nsp.prepare(self.encode(packet), opts.flags.compress is not False)
        volatile = opts.flags.volatile
        sockets = self.nsp.sockets
        for sid in self.registry.select(opts.rooms, opts.except_):
            socket = sockets.get(sid)
            if socket is not None:
                socket.deliver(packet, prepared, volatile)

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count_callback: Callable[[int], None],
        ack: Callable[[list[Any]], None],
    ) -> None:
        packet.nsp = self.nsp.name
        # one id for every recipient: ids come from the namespace's counter, so none collides
        packet.id = ack_id = self.nsp.next_ack_id()
        prepared = self.nsp.prepare(self.encode(packet), opts.flags.compress is not False)
        volatile = opts.flags.volatile
        count = 0
        for socket in self._select(opts):
            count += 1
            socket.expect_ack(ack_id, ack)
            socket.deliver(packet, prepared, volatile)
        client_count_callback(count)

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Any]:
        return list(self._select(opts))

    def add_sockets(self, opts: BroadcastOptions, rooms: Collection[str]) -> None:
        for socket in list(self._select(opts)):
            socket.join(rooms)

    def del_sockets(self, opts: BroadcastOptions, rooms: Collection[str]) -> None:
        for socket in list(self._select(opts)):
            for room in rooms:
                socket.leave(room)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        for socket in list(self._select(opts)):
            socket.disconnect(close)
