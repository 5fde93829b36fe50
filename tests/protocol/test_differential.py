"""Differential tests: our codec against socket.io-parser 4 (Node), one subprocess for the batch.

Encoding must be byte-identical to socket.io-parser's Encoder; decoding must accept and refuse the
same messages as its Decoder and give the same packets.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from typing import Any

import pytest

from roomcast.protocol import jsoncodec
from roomcast.protocol.errors import ProtocolError
from roomcast.protocol.socketio import Decoder, Packet, PacketType, encode_packet
from tests.wire import from_json as from_wire_json
from tests.wire import to_json as to_wire_json

from ..conftest import ROOT
from .conftest import run_oracle

T = PacketType
B1 = {"$bin": "AQID"}
B2 = {"$bin": ""}
PH = '{"_placeholder":true,"num":%s}'
SAFE = 2**53 - 1

FIXED_ENCODE: list[dict[str, Any]] = [
    {"type": 0, "nsp": "/"},
    {"type": 0, "nsp": "/", "data": {"token": "abc"}},
    {"type": 0, "nsp": "/admin", "data": {"sid": "oSO0OpakMV_3jnilAAAA"}},
    {"type": 1, "nsp": "/"},
    {"type": 1, "nsp": "/admin"},
    {"type": 2, "nsp": "/", "data": ["hello", 1]},
    {"type": 2, "nsp": "/admin", "data": ["project:delete", 123], "id": 456},
    {"type": 2, "nsp": "/", "data": ["message", {"name": "John", "id": "123", "message": "hello"}]},
    {"type": 2, "nsp": "/", "data": [1, 2.5, -0.125, True, False, None]},
    {"type": 2, "nsp": "/", "data": ["s", 'é中😀\u2028\u2029\ufeff\x00\x1f\x7f"\\/\n\r\t\b\f']},
    {"type": 2, "nsp": "/", "data": ["lone", "\ud800", "\udc00x", "\ud83d\ude00"]},
    {"type": 2, "nsp": "/chat?x=1&y=é", "data": ["a"], "id": 0},
    {"type": 2, "nsp": "/", "data": ["a"], "id": SAFE},
    {"type": 2, "nsp": "/", "data": ["hello", B1]},
    {"type": 2, "nsp": "/admin", "data": ["x", [B1, {"k": B2, "l": [[B1]]}], B2], "id": 9},
    {"type": 2, "nsp": "/", "data": ["x", {"_placeholder": True, "num": 0}]},
    {"type": 3, "nsp": "/admin", "data": [], "id": 456},
    {"type": 3, "nsp": "/", "data": [B1, None], "id": 1},
    {"type": 4, "nsp": "/", "data": {"message": "Not authorized"}},
    {"type": 4, "nsp": "/admin", "data": "Not authorized"},
]

ALPHABET = (
    "abcXYZ019 _-.:;!?@#$%^&*()[]{}<>=+~`'|,/\"\\"
    "\x00\x01\x08\x09\x0a\x0c\x0d\x1e\x1f\x7f"
    "é中ß\u2028\u2029\ufeff😀𝄞"
)


def _text(rng: random.Random, size: int = 8) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(size)))


def _key(rng: random.Random) -> str:
    return rng.choice("abkz_") + _text(rng, 5)  # never integer-like: JS would reorder those


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(10 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.randrange(-SAFE, SAFE)
    if kind == 3:
        return (2 * rng.randrange(-(10**6), 10**6) + 1) / 8  # non-integral binary fractions
    if kind == 4:
        return _text(rng)
    if kind == 5:
        return {"$bin": rng.choice(["", "AA==", "AQID", "/w=="])}
    if kind in (6, 7):
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {_key(rng): _value(rng, depth + 1) for _ in range(rng.randrange(4))}


def _namespace(rng: random.Random) -> str:
    return "/" if rng.random() < 0.4 else "/" + _text(rng).replace(",", ";")


def _no_binary(value: Any) -> Any:
    return jsoncodec.loads(jsoncodec.dumps(value).replace('"$bin"', '"bin"'))


def random_packets(count: int, seed: int = 20240501) -> list[dict[str, Any]]:
    """Valid packets of every kind, with binary in nested places, unicode, odd namespaces."""
    rng = random.Random(seed)
    packets = []
    for _ in range(count):
        type_ = rng.choice([0, 1, 2, 2, 2, 3, 3, 4])
        packet: dict[str, Any] = {"type": type_, "nsp": _namespace(rng)}
        if type_ == 0 and rng.random() < 0.7:
            packet["data"] = _no_binary({_key(rng): _value(rng, 1) for _ in range(3)})
        elif type_ == 4:
            packet["data"] = _text(rng) if rng.random() < 0.5 else {"message": _text(rng)}
        elif type_ in (2, 3):
            args = [_value(rng, 1) for _ in range(rng.randrange(4))]
            if type_ == 2:
                name = rng.randrange(100) if rng.random() < 0.1 else "ev" + _text(rng)
                args.insert(0, name)
            packet["data"] = args
            if rng.random() < 0.5:
                packet["id"] = rng.choice([0, 1, rng.randrange(SAFE)])
        packets.append(packet)
    return packets


def _wire(text: str, *rest: Any) -> list[Any]:
    return [text, *rest]


DECODE: list[list[Any]] = [
    [m] for m in [
        "0", "0{}", '0{"token":"a"}', "0[]", '0"a"', "0null", "01{}", '0/admin,{"t":1}', "0/admin",
        "0/admin,", "0/admin,[]",
        "1", "1/admin,", "1/admin", "1{}", "1[]", "1/admin,{}", "1null", "11",
        "2", "2[]", '2["hello",1]', '2/admin,456["project:delete",123]', '2["connect"]',
        '2["connect_error"]', '2["disconnect",1]', '2["disconnecting"]', '2["newListener"]',
        '2["removeListener"]', '2["Connect"]', '2[null]', '2[true]', '2[{}]', '2[[]]', "2[1]",
        "2[1.5]", "2[-1]", "2[1e400]", '2["a"', '2["a"]x', '2"a"', "2null", '2{"a":1}', "2{}",
        'abc["a"]', '2abc["a"]', '2/admin,["a"]', "2/admin", "2/admin,", "2/admin,12",
        '2/admin,12["a"]', '2/a,b,["a"]', '2/a/b,["x"]', '2/,["x"]', '2/admin["a"]',
        '2/é😀?x=1,["a"]',
        "212", '212["a"]', '20012["a"]', '2999999999999999999999["a"]', "2" + "9" * 400 + '["a"]',
        '2["a"] ', '2["a",NaN]', '2["a",Infinity]', '2["\\ud800"]', '2["é😀"]', '2["a","\x01"]',
        '2["\\u0041"]', "2[\"a\"]\n",
        "3", "3[]", "3{}", '3"a"', "3null", "3/admin,1", "31[1,2]", "3/admin,456[]",
        '31["x",{"y":[]}]',
        "4", '4"x"', "4{}", "4[]", "4null", "4abc", '4{"message":"Not authorized"}',
        '4/admin,{"message":"x"}', "42{}", '42abc["a"]', "41", "4true",
        "5", '51["a"]', '5-["a"]', '5a-["a"]', '50-["a"]', '511-["a"]', '5-1-["a"]',
        "6", "7", '7["a"]', "9", "a", "-", "/", ",", "[]", '["a"]', "{}",
    ]
] + [
    _wire('51-["a",' + PH % 0 + "]", B1),
    _wire('52-["a",' + PH % 0 + "]", B1, B2),
    _wire('52-["a",' + PH % 1 + "," + PH % 0 + "]", B1, B2),
    _wire('51-["a",' + PH % 1 + "]", B1),
    _wire('51-["a",' + PH % -1 + "]", B1),
    _wire('51-["a",' + PH % '"0"' + "]", B1),
    _wire('51-["a",' + PH % "0.0" + "]", B1),
    _wire('51-["a",' + PH % "null" + "]", B1),
    _wire('51-["a",{"_placeholder":false,"num":0}]', B1),
    _wire('51-["a",{"_placeholder":1,"num":0}]', B1),
    _wire('51-["a",{"num":0}]', B1),
    _wire('51-["a"]', B1),
    _wire('51-/admin,1["a",{"x":[' + PH % 0 + "]}]", B1),
    _wire("61-[" + PH % 0 + "]", B1),
    _wire("61-1[" + PH % 0 + "]", B1),
    _wire("61-/admin,456[" + PH % 0 + "]", B1),
    _wire("61-{}", B1),
    _wire("61-", B1),
    _wire('51-["connect",' + PH % 0 + "]", B1),
    _wire("51-[" + PH % 0 + "]", B1),
    _wire('51-["a",' + PH % 0 + "]"),
    _wire('52-["a",' + PH % 0 + "]", B1),
    _wire('510-["a"]', *[B1] * 10),
    _wire('510-["a"]', B1),
    _wire('51-["a",' + PH % 0 + "]", '2["b"]'),
    _wire('51-["a",' + PH % 0 + "]", B1, '2["b"]', "3[]"),
    [B1],
    ['2["a"]', B1],
    ['2["a"]', '3[1]', "0{}"],
]  # fmt: skip


def decode_ours(messages: list[Any]) -> dict[str, Any]:
    decoder = Decoder()
    packets = []
    try:
        for message in messages:
            packet = decoder.feed(message if isinstance(message, str) else from_wire_json(message))
            if packet is not None:
                packets.append(packet)
    except ProtocolError as exc:
        return {"ok": False, "packets": packets, "error": str(exc)}
    return {"ok": True, "packets": packets, "pending": decoder.awaiting_attachments}


def normalize_ours(packet: Packet) -> dict[str, Any]:
    plain = {T.BINARY_EVENT: T.EVENT, T.BINARY_ACK: T.ACK}.get(packet.type, packet.type)
    out: dict[str, Any] = {"type": int(plain), "nsp": packet.nsp}
    if packet.data is not None:
        out["data"] = jsoncodec.loads(jsoncodec.dumps(to_wire_json(packet.data)))
    if packet.id is not None:
        out["id"] = packet.id if packet.id <= SAFE else None  # JS loses huge ids anyway
    return out


def normalize_node(packet: dict[str, Any]) -> dict[str, Any]:
    out = dict(packet)
    if isinstance(out.get("id"), float) or (isinstance(out.get("id"), int) and out["id"] > SAFE):
        out["id"] = None
    return out


@pytest.fixture(scope="module")
def oracle(node: str) -> dict[str, Any]:
    return run_oracle(node, FIXED_ENCODE + random_packets(400), DECODE)


def test_encode_is_byte_identical(oracle: dict[str, Any]) -> None:
    packets = FIXED_ENCODE + random_packets(400)
    assert len(oracle["encode"]) == len(packets)
    for described, expected in zip(packets, oracle["encode"], strict=True):
        packet = Packet(
            T(described["type"]),
            described["nsp"],
            from_wire_json(described.get("data")),
            described.get("id"),
        )
        assert [to_wire_json(m) for m in encode_packet(packet)] == expected, described


@pytest.mark.parametrize("index", range(len(DECODE)))
def test_decode_agrees(oracle: dict[str, Any], index: int) -> None:
    messages = DECODE[index]
    theirs = oracle["decode"][index]
    ours = decode_ours(messages)
    assert ours["ok"] == theirs["ok"], (messages, ours, theirs)
    if ours["ok"]:
        assert ours["pending"] == theirs["pending"]
    got = [normalize_ours(p) for p in ours["packets"]]
    assert got == [normalize_node(p) for p in theirs["packets"]]


@pytest.mark.parametrize(
    ("wire", "ours"),
    [
        # socket.io-parser reads the type with Number(), so "" and " " are CONNECT there: refused
        ("", None),
        (" ", None),
        # it takes whitespace for ack id digits (id 0 here): we read no id and parse the JSON
        ('2 ["a"]', Packet(T.EVENT, data=["a"])),
        # more digits than Python's int() takes: refused (Node makes the id Infinity)
        ("2" + "9" * 5000 + '["a"]', None),
        # attachment counts must be plain digits (Node's Number() takes " 1", "0x1", "1e0")
        ('5 1-["a"]', None),
        ('50x1-["a"]', None),
    ],
)
def test_deliberate_differences(wire: str, ours: Packet | None) -> None:
    """Where the reference parser's leniency comes from JavaScript's Number(), we are strict."""
    if ours is None:
        with pytest.raises(ProtocolError):
            Decoder().feed(wire)
    else:
        assert Decoder().feed(wire) == ours


STDLIB_SCRIPT = """
import json, sys
from roomcast.protocol import jsoncodec
from roomcast.protocol.socketio import Packet, PacketType, encode_packet
from tests.wire import from_json as from_wire_json, to_json as to_wire_json
assert jsoncodec.BACKEND == "stdlib", jsoncodec.BACKEND
out = []
for p in json.load(sys.stdin):
    packet = Packet(PacketType(p["type"]), p["nsp"], from_wire_json(p.get("data")), p.get("id"))
    out.append([to_wire_json(m) for m in encode_packet(packet)])
json.dump(out, sys.stdout)
"""


def test_stdlib_backend_encodes_the_same(oracle: dict[str, Any]) -> None:
    """With ROOMCAST_JSON=stdlib (no orjson) the encoder output is byte-identical too."""
    packets = FIXED_ENCODE + random_packets(400)
    env = {**os.environ, "ROOMCAST_JSON": "stdlib"}
    result = subprocess.run(
        [sys.executable, "-c", STDLIB_SCRIPT],
        input=json.dumps(packets),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    assert json.loads(result.stdout) == oracle["encode"]
