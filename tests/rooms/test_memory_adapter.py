"""MemoryAdapter: who a broadcast reaches, the encode-once path, and the socket operations.

The namespace and sockets here are minimal recorders satisfying the adapter's protocols; the
same behaviour is checked end to end with real clients in tests/socketio.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import msgpack  # type: ignore[import-untyped]
import pytest

from roomcast.protocol.parser import parser_named
from roomcast.protocol.socketio import Packet, PacketType, encode_packet
from roomcast.rooms import BroadcastFlags, BroadcastOptions, MemoryAdapter, PersistedSession
from tests.waiting import until


class Prepared:
    def __init__(self, messages: Sequence[str | bytes]) -> None:
        self.messages = list(messages)
        self.frames = 0

    def websocket_frames(self) -> bytes:
        self.frames += 1
        return repr(self.messages).encode()


class Recorder:
    def __init__(self, nsp: Nsp, sid: str) -> None:
        self.id = sid
        self.nsp = nsp
        self.got: list[tuple[Any, bool]] = []
        self.acks: dict[int, Any] = {}
        self.disconnected: bool | None = None
        self.sink: Any = None

    def join(self, rooms: str | Collection[str]) -> None:
        self.nsp.adapter.add_all(self.id, [rooms] if isinstance(rooms, str) else rooms)

    def leave(self, room: str) -> None:
        self.nsp.adapter.del_(self.id, room)

    def disconnect(self, close: bool = False) -> None:
        self.disconnected = close
        self.nsp.adapter.del_all(self.id)
        del self.nsp.sockets[self.id]

    def deliver(self, packet: Packet, prepared: object, volatile: bool) -> bool:
        self.got.append((prepared, volatile))
        return True

    def expect_ack(self, ack_id: int, callback: Any) -> None:
        self.acks[ack_id] = callback

    def forget_ack(self, ack_id: int) -> None:
        self.acks.pop(ack_id, None)


class Nsp:
    def __init__(self) -> None:
        self.name = "/chat"
        self.recovery_window: float | None = None
        self.sockets: dict[str, Recorder] = {}
        self.encode = encode_packet
        self.adapter = MemoryAdapter(self)
        self.prepared: list[Prepared] = []
        self.ids = 0

    def prepare(self, messages: Sequence[str | bytes], compress: bool = True) -> Prepared:
        prepared = Prepared(messages)
        self.prepared.append(prepared)
        return prepared

    def next_ack_id(self) -> int:
        self.ids += 1
        return self.ids - 1

    def connect(self, sid: str, *rooms: str) -> Recorder:
        socket = self.sockets[sid] = Recorder(self, sid)
        socket.join([sid, *rooms])
        return socket


def opts(
    rooms: Collection[str] = (), except_: Collection[str] = (), **flags: Any
) -> BroadcastOptions:
    return BroadcastOptions(frozenset(rooms), frozenset(except_), BroadcastFlags(**flags))


@pytest.fixture
def nsp() -> Nsp:
    nsp = Nsp()
    nsp.connect("a", "red", "blue")
    nsp.connect("b", "red")
    nsp.connect("c", "blue")
    nsp.connect("d")
    return nsp


def event(*data: Any) -> Packet:
    return Packet(PacketType.EVENT, data=list(data))


def receivers(nsp: Nsp) -> dict[str, int]:
    return {sid: len(s.got) for sid, s in nsp.sockets.items() if s.got}


@pytest.mark.parametrize(
    ("rooms", "except_", "expected"),
    [
        ((), (), {"a", "b", "c", "d"}),
        (("red",), (), {"a", "b"}),
        (("red", "blue"), (), {"a", "b", "c"}),
        (("red", "blue"), ("a",), {"b", "c"}),
        ((), ("red",), {"c", "d"}),
        (("nope",), (), set()),
        (("d",), (), {"d"}),
    ],
)
def test_broadcast_reaches_each_selected_socket_once(
    nsp: Nsp, rooms: tuple[str, ...], except_: tuple[str, ...], expected: set[str]
) -> None:
    nsp.adapter.broadcast(event("hi", 1), opts(rooms, except_))
    assert receivers(nsp) == dict.fromkeys(expected, 1)


@pytest.mark.parametrize("parser", ["json", "msgpack"])
def test_broadcast_encodes_and_prepares_once(nsp: Nsp, parser: str) -> None:
    real = parser_named(parser).encode
    for i in range(100):
        nsp.connect(f"x{i}", "red")
    calls = []

    def counting(packet: Packet) -> list[str | bytes]:
        calls.append(packet)
        return real(packet)

    nsp.adapter.encode = counting
    nsp.adapter.broadcast(event("hi", b"\x01"), opts(["red"]))
    assert len(calls) == 1
    assert len(nsp.prepared) == 1
    prepared = nsp.prepared[0]
    if parser == "json":
        assert prepared.messages == ['51-/chat,["hi",{"_placeholder":true,"num":0}]', b"\x01"]
    else:
        wire = {"type": 2, "data": ["hi", b"\x01"], "nsp": "/chat"}
        assert prepared.messages == [msgpack.packb(wire)]
    delivered = [s.got for s in nsp.sockets.values() if s.got]
    assert len(delivered) == 102
    assert all(got == [(prepared, False)] for got in delivered)


def test_broadcast_sets_the_namespace_and_volatile(nsp: Nsp) -> None:
    packet = event("x")
    nsp.adapter.broadcast(packet, opts(["d"], volatile=True))
    assert packet.nsp == "/chat"
    assert nsp.sockets["d"].got[0][1] is True


def test_broadcast_skips_sids_without_a_socket(nsp: Nsp) -> None:
    nsp.adapter.add_all("ghost", ["red"])
    nsp.adapter.broadcast(event("x"), opts(["red"]))
    assert receivers(nsp) == {"a": 1, "b": 1}


def test_broadcast_with_ack_uses_one_id_and_counts_clients(nsp: Nsp) -> None:
    counts: list[int] = []
    answers: list[list[Any]] = []
    packet = event("q")
    nsp.adapter.broadcast_with_ack(packet, opts(["blue"]), counts.append, answers.append)
    assert counts == [2]
    assert packet.id == 0
    assert nsp.prepared[0].messages == ['2/chat,0["q"]']
    assert set(nsp.sockets["a"].acks) == {0} and set(nsp.sockets["c"].acks) == {0}
    assert not nsp.sockets["b"].acks
    nsp.sockets["a"].acks[0](["yes"])
    assert answers == [["yes"]]


def test_membership_and_queries(nsp: Nsp) -> None:
    adapter = nsp.adapter
    assert adapter.socket_rooms("a") == {"a", "red", "blue"}
    assert adapter.sockets() == {"a", "b", "c", "d"}
    assert adapter.sockets(["blue"]) == {"a", "c"}
    adapter.del_("a", "blue")
    assert adapter.rooms["blue"] == {"c"}
    adapter.del_all("a")
    assert "a" not in adapter.sids and adapter.rooms["red"] == {"b"}
    assert adapter.socket_rooms("a") == set()


async def test_fetch_sockets_and_socket_operations(nsp: Nsp) -> None:
    adapter = nsp.adapter
    fetched = await adapter.fetch_sockets(opts(["red"]))
    assert sorted(s.id for s in fetched) == ["a", "b"]
    adapter.add_sockets(opts(["red"]), ["green", "pink"])
    assert adapter.rooms["green"] == {"a", "b"} and adapter.rooms["pink"] == {"a", "b"}
    adapter.del_sockets(opts((), ["b"]), ["green"])
    assert adapter.rooms["green"] == {"b"}
    adapter.disconnect_sockets(opts(["blue"]), True)
    assert sorted(nsp.sockets) == ["b", "d"]
    assert adapter.sockets() == {"b", "d"}
    for sid in list(nsp.sockets):
        nsp.sockets[sid].disconnect()
    assert adapter.rooms == {} and adapter.sids == {}


async def test_single_server_defaults(nsp: Nsp) -> None:
    adapter = nsp.adapter
    assert await adapter.server_count() == 1
    adapter.server_side_emit(["ping", 1])  # a no-op with one server
    assert await adapter.restore_session("pid", "offset") is None
    await adapter.init()
    await adapter.close()


# connection state recovery


def sent(packet: Packet) -> list[Any]:
    return list(packet.data)


async def test_recovery_offsets_only_for_recoverable_events(nsp: Nsp) -> None:
    adapter = nsp.adapter
    nsp.recovery_window = 60.0
    plain, volatile, acked = event("a"), event("b"), event("c")
    adapter.broadcast(plain, opts())
    adapter.broadcast(volatile, opts(volatile=True))
    adapter.broadcast_with_ack(acked, opts(), lambda n: None, lambda args: None)
    assert len(plain.data) == 2 and isinstance(plain.data[-1], str)
    assert volatile.data == ["b"] and acked.data == ["c"]
    assert len(adapter.recovery) == 1
    assert nsp.prepared[0].messages == [f'2/chat,["a","{plain.data[-1]}"]']


async def test_recovery_off_adds_nothing(nsp: Nsp) -> None:
    packet = event("a")
    nsp.adapter.broadcast(packet, opts())
    assert packet.data == ["a"] and len(nsp.adapter.recovery) == 0


async def test_restore_gives_the_missed_packets_of_the_session_rooms_once(nsp: Nsp) -> None:
    adapter = nsp.adapter
    nsp.recovery_window = 60.0
    first = event("first")
    adapter.broadcast(first, opts())
    adapter.persist_session(PersistedSession("a", "pid-a", ["a", "red"], {"u": 1}))
    adapter.broadcast(event("to red"), opts(["red"]))
    adapter.broadcast(event("to blue"), opts(["blue"]))
    adapter.broadcast(event("not to a"), opts((), ["a"]))
    adapter.broadcast(event("to all"), opts())
    adapter.broadcast(event("to a"), opts(["a"]))
    restored = await adapter.restore_session("pid-a", first.data[-1])
    assert restored is not None
    assert (restored.sid, restored.pid, restored.rooms, restored.data) == (
        "a",
        "pid-a",
        ["a", "red"],
        {"u": 1},
    )
    assert [p[0] for p in restored.missed_packets] == ["to red", "to all", "to a"]
    assert await adapter.restore_session("pid-a", first.data[-1]) is None, "restored once"


async def test_restore_refuses_unknown_sessions_and_offsets(nsp: Nsp) -> None:
    adapter = nsp.adapter
    nsp.recovery_window = 60.0
    packet = event("x")
    adapter.broadcast(packet, opts())
    adapter.persist_session(PersistedSession("a", "pid", ["a"], {}))
    offset = packet.data[-1]
    assert await adapter.restore_session("other", offset) is None
    for bad in ["", "x", offset + "0", offset[:-1] + "9", "-1", offset + "\u0661"]:
        assert await adapter.restore_session("pid", bad) is None
    restored = await adapter.restore_session("pid", offset)
    assert restored is not None and restored.missed_packets == []


async def test_buffer_cap_drops_the_oldest_and_refuses_offsets_before_them() -> None:
    nsp = Nsp()
    nsp.recovery_window = 60.0
    adapter = nsp.adapter = MemoryAdapter(nsp, max_buffered_packets=3)
    packets = [event(i) for i in range(5)]
    for packet in packets:
        adapter.broadcast(packet, opts())
    assert len(adapter.recovery) == 3
    for pid in ("p0", "p1"):
        adapter.persist_session(PersistedSession("a", pid, ["a"], {}))
    assert await adapter.restore_session("p0", packets[0].data[-1]) is None, "2 is gone"
    restored = await adapter.restore_session("p1", packets[1].data[-1])
    assert restored is not None and [p[0] for p in restored.missed_packets] == [2, 3, 4]


async def test_an_up_to_date_client_recovers_after_its_last_packet_aged_out() -> None:
    nsp = Nsp()
    nsp.recovery_window = 0.05
    adapter = nsp.adapter
    old, last = event("old"), event("last")
    adapter.broadcast(old, opts())
    adapter.broadcast(last, opts())
    await until(lambda: len(adapter.recovery) == 0)  # both aged out
    adapter.persist_session(PersistedSession("a", "p0", ["a"], {}))
    adapter.persist_session(PersistedSession("a", "p1", ["a"], {}))
    assert await adapter.restore_session("p0", old.data[-1]) is None, "it missed 'last'"
    restored = await adapter.restore_session("p1", last.data[-1])
    assert restored is not None and restored.missed_packets == []


async def test_sessions_expire_with_the_window_and_close_forgets_them() -> None:
    nsp = Nsp()
    nsp.recovery_window = 0.05
    adapter = nsp.adapter
    adapter.persist_session(PersistedSession("a", "p0", ["a"], {}))
    await until(lambda: not adapter.recovery.sessions)
    nsp.recovery_window = 60.0
    adapter.persist_session(PersistedSession("a", "p1", ["a"], {}))
    adapter.broadcast(event("x"), opts())
    await adapter.close()
    assert not adapter.recovery.sessions and len(adapter.recovery) == 0


def test_a_socket_with_a_sink_takes_the_frames_and_falls_back_when_it_refuses() -> None:
    nsp = Nsp()
    fast, refusing, plain = (nsp.connect(sid) for sid in ("fast", "refusing", "plain"))
    pushed: list[tuple[str, bytes, bool]] = []

    def sink(name: str, accept: bool) -> Any:
        return lambda frames, volatile: pushed.append((name, frames, volatile)) or accept

    fast.sink = sink("fast", True)
    refusing.sink = sink("refusing", False)
    nsp.adapter.broadcast(Packet(PacketType.EVENT, ["e", 1]), BroadcastOptions(frozenset()))
    (prepared,) = nsp.prepared
    assert prepared.frames == 1  # built once for every recipient
    frames = prepared.websocket_frames()
    assert sorted(pushed) == [("fast", frames, False), ("refusing", frames, False)]
    assert fast.got == []  # taken by the sink
    assert refusing.got == [(prepared, False)]  # refused: the session's path
    assert plain.got == [(prepared, False)]
