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
from roomcast.rooms import BroadcastFlags, BroadcastOptions, MemoryAdapter


class Prepared:
    def __init__(self, messages: Sequence[str | bytes]) -> None:
        self.messages = list(messages)


class Recorder:
    def __init__(self, nsp: Nsp, sid: str) -> None:
        self.id = sid
        self.nsp = nsp
        self.got: list[tuple[Any, bool]] = []
        self.acks: dict[int, Any] = {}
        self.disconnected: bool | None = None

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
