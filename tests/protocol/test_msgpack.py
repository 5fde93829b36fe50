"""The msgpack parser: unit tests, round-trips, and a differential against the npm
``socket.io-msgpack-parser`` 3 (tests/protocol/msgpack_oracle.js), one Node subprocess per batch.

Encoding must be byte-identical to the npm Encoder fed the packets Node's server builds; decoding
must accept and refuse what the npm Decoder does, but for the documented differences.
"""

from __future__ import annotations

import datetime
import json
import subprocess
from pathlib import Path
from typing import Any

import msgpack  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roomcast.protocol.errors import (
    InvalidAckId,
    InvalidEventPayload,
    InvalidMessagePack,
    InvalidNamespace,
    InvalidPayload,
    NestingTooDeep,
    ProtocolError,
    ReservedEventName,
    UnknownPacketType,
)
from roomcast.protocol.msgpack import MSGPACK_PARSER, MsgpackDecoder, encode_packet
from roomcast.protocol.parser import JSON_PARSER, parser_named
from roomcast.protocol.socketio import Packet, PacketType
from tests.wire import from_json, to_json

from .test_differential import SAFE, random_packets

T = PacketType
ORACLE = Path(__file__).with_name("msgpack_oracle.js")


def run_oracle(node: str, encode: list[Any], decode: list[str]) -> dict[str, Any]:
    request = json.dumps({"encode": encode, "decode": decode})
    result = subprocess.run(
        [node, str(ORACLE)], input=request, capture_output=True, text=True, timeout=60, check=True
    )
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def packb(obj: Any) -> bytes:
    data: bytes = msgpack.packb(obj)
    return data


def decode(message: str | bytes) -> Packet:
    return MsgpackDecoder().feed(message)


# -- the interface


def test_parsers_by_name() -> None:
    assert parser_named("json") is JSON_PARSER
    assert parser_named("msgpack") is MSGPACK_PARSER
    with pytest.raises(ValueError, match="unknown parser"):
        parser_named("cbor")
    assert MSGPACK_PARSER.encode is encode_packet
    assert isinstance(MSGPACK_PARSER.decoder(10), MsgpackDecoder)


# -- encoding: the bytes Node's server sends (captured from socket.io 4.8 + the npm parser)


@pytest.mark.parametrize(
    ("packet", "node_hex"),
    [
        (  # the CONNECT answer: Node writes pid: undefined
            Packet(T.CONNECT, "/", {"sid": "pN4Ih2ijN5zQFmDDAAAA"}),
            "83a47479706500a46461746182a3736964b4704e34496832696a4e357a51466d444441414141"
            "a3706964d40000a36e7370a12f",
        ),
        (Packet(T.EVENT, "/", ["q", 1], 0), "84a47479706502a46461746192a17101a2696400a36e7370a12f"),
        (Packet(T.EVENT, "/", ["b", 1]), "83a47479706502a46461746192a16201a36e7370a12f"),
        (
            Packet(T.ACK, "/", ["ok", b"\x01\x02"], 0),
            "84a2696400a47479706503a46461746192a26f6bc4020102a36e7370a12f",
        ),
        (Packet(T.DISCONNECT, "/"), "82a47479706501a36e7370a12f"),
        (
            Packet(T.CONNECT_ERROR, "/adm2", {"message": "nope", "data": {"a": 1}}),
            "83a47479706504a46461746182a76d657373616765a46e6f7065a46461746181a16101"
            "a36e7370a52f61646d32",
        ),
    ],
)
def test_encode_as_node_server(packet: Packet, node_hex: str) -> None:
    assert encode_packet(packet) == [bytes.fromhex(node_hex)]


def test_encode_binary_types_go_as_plain_types_with_native_binary() -> None:
    data = ("a", bytearray(b"\x00"), memoryview(b"z"))
    [message] = encode_packet(Packet(T.BINARY_EVENT, "/x", data))
    assert msgpack.unpackb(message) == {"type": 2, "data": ["a", b"\x00", b"z"], "nsp": "/x"}
    [message] = encode_packet(Packet(T.BINARY_ACK, "/", [b"\xff"], 7))
    assert msgpack.unpackb(message) == {"id": 7, "type": 3, "data": [b"\xff"], "nsp": "/"}


def test_encode_refuses_what_the_json_parser_refuses() -> None:
    with pytest.raises(ReservedEventName):
        encode_packet(Packet(T.EVENT, "/", ["disconnect"]))
    with pytest.raises(InvalidEventPayload):
        encode_packet(Packet(T.EVENT, "/", []))
    with pytest.raises(InvalidAckId):
        encode_packet(Packet(T.EVENT, "/", ["a"], -1))
    with pytest.raises(InvalidNamespace):
        encode_packet(Packet(T.EVENT, "chat", ["a"]))
    with pytest.raises(UnknownPacketType):
        encode_packet(Packet(9, "/", ["a"]))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        encode_packet(Packet(T.EVENT, "/", ["a", object()]))
    with pytest.raises(InvalidPayload):
        encode_packet(Packet(T.EVENT, "/", ["a", 2**64]))
    with pytest.raises(InvalidPayload):
        encode_packet(Packet(T.EVENT, "/", ["a", "\ud800"]))
    deep: Any = "x"
    for _ in range(2000):
        deep = [deep]
    with pytest.raises(NestingTooDeep):
        encode_packet(Packet(T.EVENT, "/", ["a", deep]))


def test_dates_both_ways() -> None:
    when = datetime.datetime(2026, 11, 30, 20, 0, 0, 123000, tzinfo=datetime.UTC)
    [message] = encode_packet(Packet(T.EVENT, "/", ["t", when]))
    assert decode(message).data == ["t", when]
    naive = when.replace(tzinfo=None)
    assert encode_packet(Packet(T.EVENT, "/", ["t", naive])) == [message]


# -- decoding


def test_decode_the_official_clients_packets() -> None:
    # socket.io-client 4.8 emit("hi", Buffer.from([9]), undefined, ack): an "options" key too
    message = bytes.fromhex(
        "85a47479706502a46461746193a26869c40109d40000a76f7074696f6e7381a8636f6d7072657373c3"
        "a2696400a36e7370a12f"
    )
    assert decode(message) == Packet(T.EVENT, "/", ["hi", b"\t", None], 0)
    # CONNECT without auth: data undefined
    assert decode(bytes.fromhex("83a47479706500a464617461d40000a36e7370a12f")) == Packet(T.CONNECT)
    # the client's ACK: type, id, data, nsp
    ack = packb({"type": 3, "id": 5, "data": ["r"], "nsp": "/a"})
    assert decode(ack) == Packet(T.ACK, "/a", ["r"], 5)


def test_decode_python_socketio_packets() -> None:
    # python-socketio's msgpack serializer writes data: nil where there is none
    assert decode(packb({"type": 0, "data": None, "nsp": "/"})) == Packet(T.CONNECT)
    assert decode(packb({"type": 1, "data": None, "nsp": "/"})) == Packet(T.DISCONNECT)


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("2[]", InvalidPayload),
        (b"", InvalidMessagePack),
        (b"\xc1", InvalidMessagePack),
        (packb({"type": 2, "nsp": "/", "data": ["a"]}) + b"\x00", InvalidMessagePack),
        (packb({"type": 2, "nsp": "/", "data": ["a"]})[:-1], InvalidMessagePack),
        (packb(["a"]), InvalidMessagePack),
        (packb({1: 2}), InvalidMessagePack),
        (packb({"type": 5, "nsp": "/", "data": ["a"]}), UnknownPacketType),
        (packb({"type": True, "nsp": "/", "data": ["a"]}), UnknownPacketType),
        (packb({"type": "2", "nsp": "/", "data": ["a"]}), UnknownPacketType),
        (packb({"nsp": "/", "data": ["a"]}), UnknownPacketType),
        (packb({"type": 2, "data": ["a"]}), InvalidNamespace),
        (packb({"type": 2, "nsp": 1, "data": ["a"]}), InvalidNamespace),
        (packb({"type": 2, "nsp": "/", "data": "a"}), InvalidEventPayload),
        (packb({"type": 2, "nsp": "/", "data": []}), InvalidEventPayload),
        (packb({"type": 2, "nsp": "/", "data": ["connect"]}), ReservedEventName),
        (packb({"type": 2, "nsp": "/", "data": ["a"], "id": "1"}), InvalidAckId),
        (packb({"type": 2, "nsp": "/", "data": ["a"], "id": -1}), InvalidAckId),
        (packb({"type": 2, "nsp": "/", "data": ["a"], "id": 1.5}), InvalidAckId),
        (packb({"type": 3, "nsp": "/", "data": {}}), ProtocolError),
        (packb({"type": 0, "nsp": "/", "data": []}), ProtocolError),
        (packb({"type": 1, "nsp": "/", "data": {}}), ProtocolError),
        (packb({"type": 4, "nsp": "/", "data": 1}), ProtocolError),
        (b"\x91" * 5000 + b"\xc0", InvalidMessagePack),
    ],
)
def test_decode_refuses(message: str | bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode(message)


def test_decode_limits_length() -> None:
    with pytest.raises(ProtocolError):
        MsgpackDecoder(max_length=10).feed(packb({"type": 2, "nsp": "/", "data": ["a" * 20]}))


# -- round trips

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
names = st.text().filter(lambda s: s not in ("connect", "connect_error", "disconnect"))
namespaces = st.text().map(lambda s: "/" + s)
ids = st.none() | st.integers(0, 2**64 - 1)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.builds(
            Packet, st.just(T.EVENT), namespaces, st.tuples(names, values).map(list), ids
        ).filter(lambda p: p.data[0] not in ("disconnecting", "newListener", "removeListener")),
        st.builds(Packet, st.just(T.ACK), namespaces, st.lists(values, max_size=4), ids),
        st.builds(Packet, st.just(T.CONNECT), namespaces, st.dictionaries(st.text(), values)),
        st.builds(Packet, st.just(T.CONNECT_ERROR), namespaces, st.text()),
        st.builds(Packet, st.just(T.DISCONNECT), namespaces),
    )
)
def test_round_trip(packet: Packet) -> None:
    [message] = encode_packet(packet)
    assert isinstance(message, bytes)
    decoded = decode(message)
    if packet.type is T.CONNECT and "sid" in packet.data and "pid" not in packet.data:
        packet.data["pid"] = None  # the undefined Node sends
    assert decoded == packet


# -- differential against the npm package


def _ours_from_wire(packet: dict[str, Any]) -> Packet:
    return Packet(T(packet["type"]), packet["nsp"], from_json(packet.get("data")), packet.get("id"))


def test_encode_matches_npm(node: str) -> None:
    packets = [
        p
        for p in random_packets(400, seed=7)
        if "\ud800" not in json.dumps(p) and not any(s in json.dumps(p) for s in ("\\ud8", "\\udc"))
    ]
    packets += [
        {"type": 2, "nsp": "/", "data": ["n", 0, -1, -32, -33, 127, 128, 255, 256, 65535, 65536]},
        {"type": 2, "nsp": "/", "data": ["n", 2**32 - 1, 2**32, -(2**31), -(2**31) - 1, SAFE]},
        {"type": 2, "nsp": "/", "data": ["s", "x" * 31, "x" * 32, "é" * 200, "y" * 70000]},
        {"type": 2, "nsp": "/", "data": ["b", {"$bin": "AA==" * 100}, [None] * 16, {"k": 1}]},
        {"type": 2, "nsp": "/", "data": ["m", {f"k{i}": i for i in range(20)}]},
        {"type": 2, "nsp": "/", "data": ["d", {"$bin": ""}], "id": 2**40},
    ]
    oracle = run_oracle(node, packets, [])
    for packet, theirs in zip(packets, oracle["encode"], strict=True):
        ours = encode_packet(_ours_from_wire(packet))
        assert [m.hex() for m in ours] == theirs, packet  # type: ignore[union-attr]


def _dec(obj: Any) -> str:
    return packb(obj).hex()


DECODE = [
    _dec({"type": 0, "nsp": "/"}),
    _dec({"type": 0, "nsp": "/", "data": {"token": "x"}}),
    _dec({"type": 0, "nsp": "/admin", "data": []}),
    _dec({"type": 0, "nsp": "/", "data": "x"}),
    _dec({"type": 1, "nsp": "/"}),
    _dec({"type": 1, "nsp": "/", "data": 1}),
    _dec({"type": 2, "nsp": "/", "data": ["a", 1, 2.5, None, True, b"\x01"]}),
    _dec({"type": 2, "nsp": "/", "data": ["a", {"x": [b""]}], "id": 3}),
    _dec({"type": 2, "nsp": "/", "data": ["a"], "id": 3.0}),
    _dec({"type": 2, "nsp": "/", "data": ["a"], "id": 3.5}),
    _dec({"type": 2, "nsp": "/", "data": ["a"], "id": "3"}),
    _dec({"type": 2, "nsp": "/", "data": "a"}),
    _dec({"type": 2, "nsp": "/", "data": {}}),
    _dec({"type": 2, "nsp": "/"}),
    _dec({"type": 2, "nsp": 7, "data": ["a"]}),
    _dec({"type": 2, "data": ["a"]}),
    _dec({"type": 2.0, "nsp": "/", "data": ["a"]}),
    _dec({"type": 5, "nsp": "/", "data": ["a"]}),
    _dec({"type": 6, "nsp": "/", "data": ["a"]}),
    _dec({"type": -1, "nsp": "/", "data": ["a"]}),
    _dec({"type": "2", "nsp": "/", "data": ["a"]}),
    _dec({"type": True, "nsp": "/", "data": ["a"]}),
    _dec({"type": 3, "nsp": "/", "data": [], "id": 1}),
    _dec({"type": 3, "nsp": "/x", "data": {"a": 1}, "id": 1}),
    _dec({"type": 4, "nsp": "/", "data": "no"}),
    _dec({"type": 4, "nsp": "/", "data": {"message": "no"}}),
    _dec({"type": 4, "nsp": "/", "data": ["no"]}),
    _dec({"type": 2, "nsp": "/", "data": ["a"], "extra": {"x": 1}}),
    _dec(["a"]),
    _dec("a"),
    "c1",
    "",
    _dec({"type": 2, "nsp": "/", "data": ["a"]})[:-2],
]


def test_decode_matches_npm(node: str) -> None:
    oracle = run_oracle(node, [], DECODE)
    for hex_, theirs in zip(DECODE, oracle["decode"], strict=True):
        try:
            packet = decode(bytes.fromhex(hex_))
        except ProtocolError as exc:
            assert not theirs["ok"], (hex_, exc)
            continue
        assert theirs["ok"], (hex_, packet, theirs)
        expected = theirs["packet"]
        assert int(packet.type) == expected["type"]
        assert packet.nsp == expected["nsp"]
        assert to_json(packet.data) == expected.get("data")
        assert packet.id == expected.get("id")


def test_decode_differences_from_npm(node: str) -> None:
    """What the npm Decoder takes and we refuse (or read otherwise), on purpose."""
    cases = [
        _dec({"type": 2, "nsp": "/", "data": []}),
        _dec({"type": 2, "nsp": "/", "data": ["connect"]}),
        _dec({"type": 2, "nsp": "/", "data": [None]}),
        _dec({"type": 2, "nsp": "/", "data": ["a"], "id": -1}),
        _dec({"type": 0, "nsp": "/", "data": None}),
        _dec({"type": 1, "nsp": "/", "data": None}),
    ]
    oracle = run_oracle(node, [], cases)
    assert [r["ok"] for r in oracle["decode"]] == [True, True, True, True, False, False]
    ours = []
    for hex_ in cases:
        try:
            decode(bytes.fromhex(hex_))
            ours.append(True)
        except ProtocolError:
            ours.append(False)
    assert ours == [False, False, False, False, True, True]
