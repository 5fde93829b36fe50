"""The in-memory adapter: rooms and broadcasts for a single server."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable, Collection, Iterator
from typing import Any

from ..protocol.socketio import Packet, PacketType
from .adapter import (
    Adapter,
    BroadcastOptions,
    NamespaceLike,
    PersistedSession,
    RestoredSession,
    SocketLike,
    deliver_local,
)
from .registry import RoomRegistry

__all__ = ["MAX_BUFFERED_PACKETS", "MemoryAdapter", "RecoveryBuffer"]

MAX_BUFFERED_PACKETS = 10_000
"""Default cap on the recoverable packets a namespace keeps (connection state recovery)."""

_EVENT = PacketType.EVENT


class _Kept:
    __slots__ = ("at", "session", "timer")

    def __init__(self, session: PersistedSession, at: float) -> None:
        self.session = session
        self.at = at
        self.timer: asyncio.TimerHandle | None = None


class RecoveryBuffer:
    """What connection state recovery needs for one namespace: the recent recoverable packets
    (a ring of at most ``cap``, none older than the window) and the disconnected sockets'
    sessions (each until the window passes, or until restored: a session is restored once).

    Offsets are ``<random prefix><sequence number>``: finding one is a subtraction, not a
    search, and an offset from another server or an earlier run is simply unknown. A client's
    offset is usable while every packet after it is still kept, even if its own packet has
    aged out (a client that is up to date in a quiet namespace still recovers); otherwise the
    client would miss packets, so it is not recovered.
    """

    __slots__ = ("_first", "_next", "_slots", "_sweep", "cap", "prefix", "sessions")

    def __init__(self, cap: int = MAX_BUFFERED_PACKETS) -> None:
        if cap < 1:
            raise ValueError("the recovery buffer needs room for at least one packet")
        self.cap = cap
        self.prefix = base64.urlsafe_b64encode(os.urandom(6)).decode() + "-"
        self._slots: list[tuple[float, BroadcastOptions, list[Any]] | None] = []
        self._first = 0
        """Sequence number of the oldest packet kept (== ``_next`` when none)."""
        self._next = 0
        """Sequence number of the next packet."""
        self._sweep: asyncio.TimerHandle | None = None
        self.sessions: dict[str, _Kept] = {}
        """Kept sessions by private id."""

    def __len__(self) -> int:
        """How many packets are kept."""
        return self._next - self._first

    def keep(self, data: list[Any], opts: BroadcastOptions, window: float) -> None:
        """Give the packet ``data`` the next offset (appended to it) and keep it."""
        now = time.monotonic()
        cap = self.cap
        slots = self._slots
        if not slots:
            slots.extend([None] * cap)
        first = self._first
        if first < self._next:  # _expire, called only when the oldest kept packet is out
            oldest = slots[first % cap]
            if oldest is None or oldest[0] < now - window:
                self._expire(now - window)
        seq = self._next
        if seq - self._first >= cap:  # full: the oldest goes
            self._first += 1
        data.append(self.prefix + str(seq))
        slots[seq % cap] = (now, opts, data)
        self._next = seq + 1
        if self._sweep is None:
            self._schedule_sweep(window, window)

    def _expire(self, threshold: float) -> None:
        slots = self._slots
        cap = self.cap
        first = self._first
        end = self._next
        while first < end:
            entry = slots[first % cap]
            if entry is not None and entry[0] >= threshold:
                break
            slots[first % cap] = None
            first += 1
        self._first = first

    def _schedule_sweep(self, delay: float, window: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._sweep = loop.call_later(delay, self._on_sweep, window)

    def _on_sweep(self, window: float) -> None:
        self._sweep = None
        now = time.monotonic()
        self._expire(now - window)
        if self._first < self._next:
            oldest = self._slots[self._first % self.cap]
            assert oldest is not None
            self._schedule_sweep(max(oldest[0] + window - now, 0.0), window)

    def _sequence(self, offset: str) -> int | None:
        prefix = self.prefix
        if not offset.startswith(prefix):
            return None
        digits = offset[len(prefix) :]
        if not digits.isascii() or not digits.isdigit() or len(digits) > 19:
            return None
        seq = int(digits)
        return seq if str(seq) == digits else None

    def persist(self, session: PersistedSession, window: float) -> None:
        """Keep ``session`` for ``window`` seconds (replacing one with the same pid)."""
        old = self.sessions.pop(session.pid, None)
        if old is not None and old.timer is not None:
            old.timer.cancel()
        kept = _Kept(session, time.monotonic())
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            kept.timer = loop.call_later(window, self._forget, session.pid, kept)
        self.sessions[session.pid] = kept

    def _forget(self, pid: str, kept: _Kept) -> None:
        kept.timer = None  # the timer, run, still holds kept (a cycle) until dropped
        if self.sessions.get(pid) is kept:
            del self.sessions[pid]

    def restore(self, pid: str, offset: str, window: float) -> RestoredSession | None:
        """The session ``pid`` and the packets it missed after ``offset`` (it is forgotten),
        or None (unknown or expired session, unknown offset, missed packets no longer kept)."""
        kept = self.sessions.get(pid)
        if kept is None:
            return None
        now = time.monotonic()
        if kept.at + window < now:
            self._drop(pid, kept)
            return None
        seq = self._sequence(offset)
        if self._slots:
            self._expire(now - window)
        if seq is None or seq >= self._next or seq + 1 < self._first:
            return None
        self._drop(pid, kept)
        session = kept.session
        rooms = set(session.rooms)
        missed: list[list[Any]] = []
        slots = self._slots
        cap = self.cap
        for n in range(seq + 1, self._next):
            entry = slots[n % cap]
            assert entry is not None
            opts = entry[1]
            if (not opts.rooms or not rooms.isdisjoint(opts.rooms)) and rooms.isdisjoint(
                opts.except_
            ):
                missed.append(entry[2])
        return RestoredSession(session.sid, session.pid, session.rooms, session.data, missed)

    def _drop(self, pid: str, kept: _Kept) -> None:
        del self.sessions[pid]
        if kept.timer is not None:
            kept.timer.cancel()

    def clear(self) -> None:
        """Forget everything and stop the timers."""
        for kept in self.sessions.values():
            if kept.timer is not None:
                kept.timer.cancel()
        self.sessions.clear()
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        self._slots = []
        self._first = self._next


class MemoryAdapter(Adapter):
    """Keeps the namespace's rooms in a :class:`RoomRegistry` and broadcasts to local sockets.

    The default adapter. Cluster adapters extend it: they keep the local registry and add the
    traffic to other servers.

    With connection state recovery on (``nsp.recovery_window`` not None) it also keeps, in a
    :class:`RecoveryBuffer`, the recoverable packets of the last ``recovery_window`` seconds,
    at most ``max_buffered_packets`` of them (default :data:`MAX_BUFFERED_PACKETS`; past it
    the oldest go, and a client that would need them is not recovered), and the sessions of
    disconnected sockets until the window passes.
    """

    def __init__(
        self, nsp: NamespaceLike, max_buffered_packets: int = MAX_BUFFERED_PACKETS
    ) -> None:
        super().__init__(nsp)
        self.registry = RoomRegistry()
        self.encode = nsp.encode
        """The namespace's parser's encoder (looked up once, not per broadcast)."""
        self.recovery = RecoveryBuffer(max_buffered_packets)
        """The recovery state (empty while recovery is off)."""
        # Plain counters for metrics, bumped once per broadcast (never per recipient).
        self.broadcasts = 0
        """Broadcasts sent to this server's sockets."""
        self.recipients = 0
        """Local sockets those broadcasts were addressed to."""
        self.broadcast_messages = 0
        """Engine.IO messages they put on sessions (recipients x messages per packet)."""
        self.broadcast_bytes = 0
        """Payload bytes (characters for text) they put on sessions."""

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
        window = self.nsp.recovery_window
        if (
            window is not None
            and packet.type is _EVENT
            and packet.id is None
            and not opts.flags.volatile
        ):
            self.recovery.keep(packet.data, opts, window)
        self.send_local(packet, opts)

    def send_local(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Encode ``packet`` once and queue it on every local socket ``opts`` selects (no
        offset added, nothing kept: for subclasses that deliver packets offset elsewhere)."""
        packet.nsp = self.nsp.name
        messages = self.encode(packet)
        selected = self.registry.select(opts.rooms, opts.except_)
        if selected:
            prepared = self.nsp.prepare(messages, opts.flags.compress is not False)
            deliver_local(self.nsp.sockets, selected, packet, prepared, opts.flags.volatile)
        self._count(messages, len(selected))

    def _count(self, messages: list[str | bytes], recipients: int) -> None:
        self.broadcasts += 1
        self.recipients += recipients
        self.broadcast_messages += recipients * len(messages)
        size = len(messages[0]) if len(messages) == 1 else sum(len(m) for m in messages)
        self.broadcast_bytes += recipients * size

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
        messages = self.encode(packet)
        prepared = self.nsp.prepare(messages, opts.flags.compress is not False)
        volatile = opts.flags.volatile
        count = 0
        for socket in self._select(opts):
            count += 1
            socket.expect_ack(ack_id, ack)
            socket.deliver(packet, prepared, volatile)
        self._count(messages, count)
        client_count_callback(count)

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Any]:
        return list(self._select(opts))

    async def close(self) -> None:
        self.recovery.clear()

    def persist_session(self, session: PersistedSession) -> None:
        window = self.nsp.recovery_window
        if window is not None:
            self.recovery.persist(session, window)

    async def restore_session(self, pid: str, offset: str) -> RestoredSession | None:
        window = self.nsp.recovery_window
        if window is None:
            return None
        return self.recovery.restore(pid, offset, window)

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
