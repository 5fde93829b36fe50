"""Rooms end to end: each broadcast reaches exactly its members, exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket

from .conftest import WAIT, ClientFactory, SioClient, url_of

N = 200
R = 20


def rooms_for(i: int) -> set[str]:
    """Overlapping membership: two or three rooms per socket, 20 rooms in all."""
    return {f"r{i % R}", f"r{(i * 7 + 3) % R}", f"r{(i // 10) % R}"}


async def received_until_end(client: SioClient) -> list[Any]:
    tags = []
    while (tag := (await client.next_event("b"))[0]) != "end":
        tags.append(tag)
    return tags


class Tracker:
    """Server-side bookkeeping: sockets by index, and a wait for all disconnections."""

    def __init__(self, io: Server) -> None:
        self.by_index: dict[int, Socket] = {}
        self.gone = 0
        self.all_gone = asyncio.Event()
        self.expected = 0
        io.on("connection", self.on_connection)
        io.on("disconnect", self.on_disconnect)

    def on_connection(self, socket: Socket) -> None:
        index = socket.handshake.auth["i"]
        socket.join(rooms_for(index))
        self.by_index[index] = socket

    def on_disconnect(self, socket: Socket, reason: str) -> None:
        self.gone += 1
        if self.gone == self.expected:
            self.all_gone.set()


@pytest.mark.parametrize("kind", ["python-websocket", "node-websocket"])
async def test_200_sockets_in_20_rooms(io: Server, clients: ClientFactory) -> None:
    tracker = Tracker(io)

    @io.on("relay")
    def relay(socket: Socket, room: str, tag: str) -> bool:
        socket.to(room).emit("b", tag)
        return True

    members = {i: rooms_for(i) for i in range(N)}
    conns = [clients() for _ in range(N)]
    await asyncio.gather(*(c.connect(url_of(io), auth={"i": i}) for i, c in enumerate(conns)))
    assert len(tracker.by_index) == N
    adapter = io.sockets.adapter
    assert set(adapter.rooms) == {f"r{k}" for k in range(R)} | {
        s.id for s in tracker.by_index.values()
    }
    expected: dict[int, list[str]] = {i: [] for i in range(N)}

    def expect(
        tag: str, rooms: set[str], except_: set[str] = frozenset(), but: int | None = None
    ) -> None:
        for i, joined in members.items():
            if (not rooms or joined & rooms) and not joined & except_ and i != but:
                expected[i].append(tag)

    io.to("r0").emit("b", "one room")
    expect("one room", {"r0"})
    io.to(["r1", "r8", "r15"]).emit("b", "three rooms")
    expect("three rooms", {"r1", "r8", "r15"})
    io.to("r2").to("r3").except_("r5").emit("b", "except")
    expect("except", {"r2", "r3"}, {"r5"})
    io.except_(["r0", "r1"]).emit("b", "all but")
    expect("all but", set(), {"r0", "r1"})
    io.emit("b", "everyone")
    expect("everyone", set())
    assert await conns[4].call("relay", "r4", "relayed") == [True]
    expect("relayed", {"r4"}, but=4)
    tracker.by_index[7].broadcast.emit("b", "broadcast")
    expect("broadcast", set(), but=7)
    io.in_("r6").sockets_leave("r6")
    for joined in members.values():
        joined.discard("r6")
    io.to("r6").emit("b", "after leave")
    io.in_("r9").sockets_join("extra")
    for joined in members.values():
        if "r9" in joined:
            joined.add("extra")
    io.to("extra").emit("b", "joined")
    expect("joined", {"extra"})
    leaver = tracker.by_index[11]
    for room in list(leaver.rooms - {leaver.id}):
        leaver.leave(room)
    members[11] = set()
    io.to([f"r{k}" for k in range(R)]).emit("b", "all rooms")
    expect("all rooms", {f"r{k}" for k in range(R)})
    io.emit("b", "end")

    received = await asyncio.gather(*(received_until_end(c) for c in conns))
    for i, tags in enumerate(received):
        duplicates = [tag for tag, n in Counter(tags).items() if n > 1]
        assert not duplicates, f"socket {i} got {duplicates} twice"
        assert sorted(tags) == sorted(expected[i]), f"socket {i}"
    assert "r6" not in adapter.rooms

    tracker.expected = N
    await asyncio.gather(*(c.disconnect() for c in conns))
    await asyncio.wait_for(tracker.all_gone.wait(), WAIT)
    assert io.sockets.sockets == {}
    assert adapter.rooms == {} and adapter.sids == {}


async def test_to_excludes_sender_and_except(io: Server, clients: ClientFactory) -> None:
    tracker = Tracker(io)

    @io.on("say")
    def say(socket: Socket, room: str, text: str) -> None:
        socket.to(room).except_("muted").emit("b", text)

    conns = [clients() for _ in range(4)]
    for i, client in enumerate(conns):
        await client.connect(url_of(io), auth={"i": i * R})  # all four in r0
    tracker.by_index[2 * R].join("muted")
    await conns[0].emit("say", "r0", "hi")
    await conns[0].emit("say", "r0", "end")
    assert await received_until_end(conns[1]) == ["hi"]
    assert await received_until_end(conns[3]) == ["hi"]
    tracker.by_index[2 * R].leave("muted")
    tracker.by_index[3 * R].leave("r0")
    io.to("r0").emit("b", "after")
    io.emit("b", "end")
    assert await received_until_end(conns[0]) == ["after"]
    assert await received_until_end(conns[2]) == ["after"]
    assert await received_until_end(conns[3]) == []


async def test_disconnected_socket_leaves_every_room(io: Server, clients: ClientFactory) -> None:
    tracker = Tracker(io)
    rooms_seen: asyncio.Future[set[str]] = asyncio.get_running_loop().create_future()
    io.on("disconnecting", lambda socket, reason: rooms_seen.set_result(socket.rooms))
    client = clients()
    await client.connect(url_of(io), auth={"i": 5})
    socket = tracker.by_index[5]
    assert socket.rooms == rooms_for(5) | {socket.id}
    tracker.expected = 1
    await client.disconnect()
    await asyncio.wait_for(tracker.all_gone.wait(), WAIT)
    assert await rooms_seen == rooms_for(5) | {socket.id}
    assert io.sockets.adapter.rooms == {} and io.sockets.adapter.sids == {}
    assert not socket.connected
    socket.join("late")  # joining after the disconnection does nothing
    assert io.sockets.adapter.rooms == {}


async def test_fetch_sockets_and_disconnect_sockets(io: Server, clients: ClientFactory) -> None:
    tracker = Tracker(io)
    conns = [clients() for _ in range(3)]
    for i, client in enumerate(conns):
        await client.connect(url_of(io), auth={"i": i})
    fetched = await io.in_("r1").fetch_sockets()  # rooms_for(1) = {r0, r1, r10}
    assert {s.id for s in fetched} == {tracker.by_index[1].id}
    assert {s.id for s in await io.fetch_sockets()} == {s.id for s in tracker.by_index.values()}
    assert await io.sockets.all_sockets() == {s.id for s in tracker.by_index.values()}
    tracker.expected = 2
    io.except_(tracker.by_index[0].id).disconnect_sockets()
    said = {"python": "server disconnect", "node": "io server disconnect"}[conns[1].library]
    assert await conns[1].reason() == said
    assert await conns[2].reason() == said
    await asyncio.wait_for(tracker.all_gone.wait(), WAIT)
    assert list(io.sockets.sockets) == [tracker.by_index[0].id]
    io.server_side_emit("hello", 1)  # one server: goes nowhere, raises nothing


async def test_volatile_and_local_still_deliver_to_writable_sockets(
    io: Server, clients: ClientFactory
) -> None:
    Tracker(io)
    client = clients()
    await client.connect(url_of(io), auth={"i": 0})
    io.local.emit("b", "local")
    io.volatile.to("r0").emit("b", "volatile")
    io.compress(False).emit("b", "end")
    tags = await received_until_end(client)
    assert "local" in tags
    assert set(tags) <= {"local", "volatile"}


@pytest.mark.parametrize("kind", ["python-websocket"])
async def test_broadcast_reaches_every_member_when_a_listener_leaves_during_it(
    io: Server, clients: ClientFactory
) -> None:
    """A listener that leaves the room while the broadcast runs changes nothing for that
    broadcast: every member at its start gets it, and the emitting code sees no error."""
    members: list[Socket] = []

    @io.on("connection")
    def on_connection(socket: Socket) -> None:
        socket.join("r")
        socket.on_any_outgoing(lambda event, *args: socket.leave("r"))
        members.append(socket)

    conns = [clients() for _ in range(10)]
    await asyncio.gather(*(c.connect(url_of(io)) for c in conns))
    assert len(members) == 10
    io.to("r").emit("b", "last")
    assert await asyncio.gather(*(c.next_event("b") for c in conns)) == [["last"]] * 10
    assert "r" not in io.sockets.adapter.rooms
