"""The Redis adapter's wire format against notepack.io itself (one Node call per test run)."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from roomcast.protocol.socketio import Packet, PacketType
from roomcast.rooms.adapter import BroadcastFlags, BroadcastOptions
from roomcast.rooms.redis_messages import (
    Channels,
    decode,
    decode_broadcast,
    decode_msgpack,
    encode_broadcast,
    encode_json,
    encode_msgpack,
)
from tests.conftest import NODE_MODULES, ROOT

FROM_PYTHON: list[tuple[Any, Any]] = [
    (b"\x00\x01", {"$bin": "AAE="}),
    (bytearray(b"x"), {"$bin": "eA=="}),
    (memoryview(b"y"), {"$bin": "eQ=="}),
    ([None, 1.5, 3, -1, -33, 2**40, -(2**40)], [None, 1.5, 3, -1, -33, 2**40, -(2**40)]),
    ({"k": None, "é": "é" * 40}, {"k": None, "é": "é" * 40}),
    ((1, 2), [1, 2]),
]


@pytest.fixture(scope="module")
def notepack(node: str) -> dict[str, Any]:
    messages = [encode_msgpack(value).hex() for value, _ in FROM_PYTHON]
    broadcast = encode_broadcast(
        "uid123",
        Packet(PacketType.EVENT, "/chat", ["ev", b"\x01", {"n": None}]),
        BroadcastOptions(frozenset({"r"}), frozenset({"x"}), BroadcastFlags(volatile=True)),
    )
    messages.append(broadcast.hex())
    result = subprocess.run(
        [node, str(ROOT / "tests" / "node" / "redis_notepack.js")],
        input=json.dumps({"decode": messages}).encode(),
        capture_output=True,
        env={**os.environ, "NODE_MODULES": str(NODE_MODULES)},
        check=True,
        timeout=30,
    )
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def test_what_python_encodes_notepack_reads(notepack: dict[str, Any]) -> None:
    decoded = notepack["decoded"]
    for (_, expected), got in zip(FROM_PYTHON, decoded, strict=False):
        assert got == expected
    assert decoded[-1] == [
        "uid123",
        {"type": 2, "data": ["ev", {"$bin": "AQ=="}, {"n": None}], "nsp": "/chat"},
        {"rooms": ["r"], "except": ["x"], "flags": {"volatile": True}},
    ]


def test_what_notepack_encodes_python_reads(notepack: dict[str, Any]) -> None:
    sample = {name: bytes.fromhex(value) for name, value in notepack["encoded"].items()}
    assert decode_msgpack(sample["buffer"]) == b"\x00\x01\xff"
    assert decode_msgpack(sample["arraybuffer"]) == b"\x01\x02"
    assert decode_msgpack(sample["typedarray"]) == b"\x01"  # Buffer.from(Uint16Array): values
    assert decode_msgpack(sample["undefinedInArray"]) == [1, None, 2]
    assert decode_msgpack(sample["undefinedInMap"]) == {"a": 1}
    assert decode_msgpack(sample["functionInMap"]) == {"a": 1}
    assert decode_msgpack(sample["float"]) == 1.5
    assert decode_msgpack(sample["integralNumber"]) == 3
    assert decode_msgpack(sample["negative"]) == -33
    assert decode_msgpack(sample["big"]) == 2**40
    assert decode_msgpack(sample["negativeBig"]) == -(2**40)
    assert decode_msgpack(sample["date"]) == "2024-01-31T12:00:00.123Z"  # as JSON.stringify
    assert decode_msgpack(sample["longString"]) == "é" * 40
    decoded = decode_broadcast(sample["broadcast"])
    assert decoded is not None
    uid, packet, opts = decoded
    assert uid == "abcdef"
    assert (packet.type, packet.nsp, packet.data) == (
        PacketType.EVENT,
        "/chat",
        ["event", b"\x07", {"nested": [None, True]}],
    )
    assert opts == BroadcastOptions(
        frozenset({"r1"}), frozenset({"x"}), BroadcastFlags(volatile=True)
    )


def test_channels_and_json_messages() -> None:
    channels = Channels.of("socket.io", "/chat", "abc")
    assert channels.broadcast == "socket.io#/chat#"
    assert channels.for_rooms(frozenset({"room"})) == "socket.io#/chat#room#"
    assert channels.for_rooms(frozenset({"a", "b"})) == "socket.io#/chat#"
    assert channels.request == "socket.io-request#/chat#"
    assert channels.response == "socket.io-response#/chat#"
    assert channels.specific_response == "socket.io-response#/chat#abc#"
    assert Channels.of("k", "/a*b", "u").pattern == "k#/a\\*b#*"
    assert encode_json({"data": [b"\x01\x02", "é"]}) == (
        '{"data":[{"type":"Buffer","data":[1,2]},"é"]}'.encode()
    )
    assert decode(b'{"type":8,"requestId":"x","clientCount":2}')["clientCount"] == 2
    assert decode(encode_msgpack({"type": 9, "packet": b"\x00"})) == {"type": 9, "packet": b"\x00"}


def test_malformed_broadcasts_are_ignored() -> None:
    assert decode_broadcast(b"\xc1") is None
    assert decode_broadcast(encode_msgpack(["uid", "not a packet", {}])) is None
    assert decode_broadcast(encode_msgpack([1, {"type": 2}, {}])) is None
    assert decode_broadcast(encode_msgpack(["uid", {"type": 99}, {}])) is None


def test_a_broadcast_ack_keeps_its_id_an_event_does_not() -> None:
    """A server relays a moved socket's late ack answer as a broadcast ACK to the socket's
    room: its id must survive; an EVENT's id is never taken from another server."""
    opts = BroadcastOptions(frozenset({"s1"}))
    ack = decode_broadcast(encode_broadcast("u", Packet(PacketType.ACK, "/", [1], 7), opts))
    event = decode_broadcast(encode_broadcast("u", Packet(PacketType.EVENT, "/", ["e"], 7), opts))
    assert ack is not None and ack[1].type is PacketType.ACK and ack[1].id == 7
    assert event is not None and event[1].id is None
