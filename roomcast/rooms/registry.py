"""Room membership: which sockets are in which rooms, indexed both ways."""

from __future__ import annotations

from collections.abc import Collection, Iterable

__all__ = ["RoomRegistry"]


class RoomRegistry:
    """Two dicts of sets kept in step: ``rooms[room] -> sids`` and ``sids[sid] -> rooms``.

    A room exists only while it has members: it is deleted the moment its last socket leaves.
    A sid is known only while it is in at least one room (a connected socket is always in the
    room named after its own id, so in practice: while it is connected).
    """

    __slots__ = ("rooms", "sids")

    def __init__(self) -> None:
        self.rooms: dict[str, set[str]] = {}
        self.sids: dict[str, set[str]] = {}

    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        """Put ``sid`` in every room of ``rooms`` (joining a room twice is a no-op)."""
        joined = self.sids.get(sid)
        if joined is None:
            joined = self.sids[sid] = set()
        for room in rooms:
            joined.add(room)
            members = self.rooms.get(room)
            if members is None:
                self.rooms[room] = {sid}
            else:
                members.add(sid)
        if not joined:
            del self.sids[sid]

    def remove(self, sid: str, room: str) -> None:
        """Take ``sid`` out of ``room``; empty rooms and room-less sids are forgotten at once."""
        joined = self.sids.get(sid)
        if joined is not None:
            joined.discard(room)
            if not joined:
                del self.sids[sid]
        members = self.rooms.get(room)
        if members is not None:
            members.discard(sid)
            if not members:
                del self.rooms[room]

    def remove_all(self, sid: str) -> set[str]:
        """Take ``sid`` out of every room; return the rooms it was in."""
        joined = self.sids.pop(sid, None)
        if joined is None:
            return set()
        for room in joined:
            members = self.rooms.get(room)
            if members is not None:
                members.discard(sid)
                if not members:
                    del self.rooms[room]
        return joined

    def rooms_of(self, sid: str) -> set[str]:
        """The rooms ``sid`` is in (a copy; empty if unknown)."""
        return set(self.sids.get(sid, ()))

    def members(self, room: str) -> set[str]:
        """The sids in ``room`` (a copy; empty if the room does not exist)."""
        return set(self.rooms.get(room, ()))

    def select(self, rooms: Collection[str], except_: Collection[str] = ()) -> Collection[str]:
        """The sids in any of ``rooms`` (all sids if ``rooms`` is empty) and in none of
        ``except_``, each exactly once.

        A snapshot taken at the call: the caller may join and leave rooms (or a handler it runs
        may) while it goes through the result, and every sid that was selected stays in it. The
        copy is one C-level pass over the members, small beside the work done per recipient.
        """
        excluded: set[str] = set()
        for room in except_:
            members = self.rooms.get(room)
            if members:
                excluded |= members
        if not rooms:
            if excluded:
                return [sid for sid in self.sids if sid not in excluded]
            return tuple(self.sids)
        if len(rooms) == 1:
            for room in rooms:
                members = self.rooms.get(room)
                if not members:
                    return ()
                if excluded:
                    return members - excluded  # a new set: C-level, the order does not matter
                return tuple(members)
        selected: set[str] = set()
        for room in rooms:
            members = self.rooms.get(room)
            if members:
                selected |= members
        return selected - excluded if excluded else selected

    def __len__(self) -> int:
        """The number of rooms."""
        return len(self.rooms)

    def __repr__(self) -> str:
        return f"RoomRegistry(rooms={len(self.rooms)}, sids={len(self.sids)})"
