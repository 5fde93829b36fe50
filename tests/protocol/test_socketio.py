"""Socket.IO protocol 5 packets both ways, from the examples of the socket.io-protocol document."""

from __future__ import annotations

from typing import Any

import pytest

from roomcast.protocol import engineio
from roomcast.protocol.errors import NestingTooDeep
from roomcast.protocol.socketio import Decoder, Packet, PacketType, encode_packet

T = PacketType
PH0 = {"_placeholder": True, "num": 0}

# (wire, packet): encode(packet) == wire and decode(wire) == packet
VECTORS = [
    ("0", Packet(T.CONNECT)),
    ('0{"token":"123"}', Packet(T.CONNECT, data={"token": "123"})),
    ('0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}',
     Packet(T.CONNECT, "/admin", {"sid": "oSO0OpakMV_3jnilAAAA"})),
    ("0/admin,", Packet(T.CONNECT, "/admin")),
    ("1", Packet(T.DISCONNECT)),
    ("1/admin,", Packet(T.DISCONNECT, "/admin")),
    ('2["foo"]', Packet(T.EVENT, data=["foo"])),
    ('2/admin,["bar"]', Packet(T.EVENT, "/admin", ["bar"])),
    ('2["hello",1]', Packet(T.EVENT, data=["hello", 1])),
    ('2/admin,456["project:delete",123]', Packet(T.EVENT, "/admin", ["project:delete", 123], 456)),
    ('212["a"]', Packet(T.EVENT, data=["a"], id=12)),
    ('20["a"]', Packet(T.EVENT, data=["a"], id=0)),
    ('2[1,"numeric name"]', Packet(T.EVENT, data=[1, "numeric name"])),
    ('2["message",{"name":"John","id":"123","message":"hello"}]',
     Packet(T.EVENT, data=["message", {"name": "John", "id": "123", "message": "hello"}])),
    ('2/chat?x=1&y=é,["é😀\\n"]', Packet(T.EVENT, "/chat?x=1&y=é", ["é😀\n"])),
    ("3/admin,456[]", Packet(T.ACK, "/admin", [], 456)),
    ('3/admin,13["bar"]', Packet(T.ACK, "/admin", ["bar"], 13)),
    ('212["foo"]', Packet(T.EVENT, data=["foo"], id=12)),
    ('312["ok",null]', Packet(T.ACK, data=["ok", None], id=12)),
    ('4{"message":"Not authorized"}', Packet(T.CONNECT_ERROR, data={"message": "Not authorized"})),
    ('4/admin,"Not authorized"', Packet(T.CONNECT_ERROR, "/admin", "Not authorized")),
]  # fmt: skip


@pytest.mark.parametrize(("wire", "packet"), VECTORS)
def test_text_packets_both_ways(wire: str, packet: Packet) -> None:
    assert encode_packet(packet) == [wire]
    assert Decoder().feed(wire) == packet


BINARY_VECTORS: list[tuple[list[str | bytes], Packet, Any]] = [
    (
        ['51-["hello",{"_placeholder":true,"num":0}]', b"\x01\x02\x03\x04"],
        Packet(T.BINARY_EVENT, data=["hello", b"\x01\x02\x03\x04"]),
        ["hello", bytearray(b"\x01\x02\x03\x04")],
    ),
    (
        ['52-/admin,456["project:delete",{"_placeholder":true,"num":0},'
         '{"a":[{"_placeholder":true,"num":1}]}]', b"\x01", b""],
        Packet(T.BINARY_EVENT, "/admin", ["project:delete", b"\x01", {"a": [b""]}], 456),
        ["project:delete", memoryview(b"\x01"), {"a": [b""]}],
    ),
    (
        ['52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
         b"\x01\x02", b"\x03\x04"],
        Packet(T.BINARY_EVENT, "/admin", ["baz", b"\x01\x02", b"\x03\x04"]),
        ["baz", b"\x01\x02", b"\x03\x04"],
    ),
    (
        ['61-15["bar",{"_placeholder":true,"num":0}]', b"\x01\x02\x03\x04"],
        Packet(T.BINARY_ACK, data=["bar", b"\x01\x02\x03\x04"], id=15),
        ["bar", b"\x01\x02\x03\x04"],
    ),
    (
        ['61-/admin,456[{"_placeholder":true,"num":0}]', b"\x03"],
        Packet(T.BINARY_ACK, "/admin", [b"\x03"], 456),
        [b"\x03"],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("wire", "decoded", "sent"), BINARY_VECTORS)
def test_binary_packets_both_ways(wire: list[str | bytes], decoded: Packet, sent: Any) -> None:
    plain = T.EVENT if decoded.type is T.BINARY_EVENT else T.ACK
    assert encode_packet(Packet(plain, decoded.nsp, sent, decoded.id)) == wire
    assert encode_packet(decoded) == wire
    decoder = Decoder()
    assert decoder.feed(wire[0]) is None
    for attachment in wire[1:-1]:
        assert decoder.awaiting_attachments
        assert decoder.feed(attachment) is None
    assert decoder.feed(wire[-1]) == decoded
    assert not decoder.awaiting_attachments


def test_attachments_are_bytes_shared_by_every_recipient() -> None:
    payload = b"x" * 1000
    messages = encode_packet(Packet(T.EVENT, data=["file", payload]))
    assert messages[1] is payload
    assert encode_packet(Packet(T.EVENT, data=["file", bytearray(payload)]))[1] == payload


def test_namespace_without_comma_ends_the_packet() -> None:
    assert Decoder().feed("2/admin") == Packet(T.EVENT, "/admin")
    assert Decoder().feed('2/admin["a"]') == Packet(T.EVENT, '/admin["a"]')
    assert Decoder().feed("2/admin,") == Packet(T.EVENT, "/admin")


def test_tuples_are_arrays() -> None:
    assert encode_packet(Packet(T.EVENT, data=("a", (1, 2)))) == ['2["a",[1,2]]']


def test_decoder_reset_forgets_a_pending_packet() -> None:
    decoder = Decoder()
    assert decoder.feed('51-["a",{"_placeholder":true,"num":0}]') is None
    decoder.reset()
    assert not decoder.awaiting_attachments
    assert decoder.feed('2["b"]') == Packet(T.EVENT, data=["b"])


def test_placeholder_in_a_plain_event_stays_an_object() -> None:
    wire = '2["a",{"_placeholder":true,"num":0}]'
    assert Decoder().feed(wire) == Packet(T.EVENT, data=["a", PH0])


def test_sample_session_of_the_protocol_document() -> None:
    """Engine.IO and Socket.IO together, as in the document's sample session."""
    decoder = Decoder()
    received = [engineio.decode_packet(frame) for frame in ["40/admin,", '42/admin,1["tellme"]']]
    assert [decoder.feed(p.data) for p in received] == [
        Packet(T.CONNECT, "/admin"),
        Packet(T.EVENT, "/admin", ["tellme"], 1),
    ]
    polled = engineio.decode_payload('42["hello"]\x1e42["world"]')
    assert [decoder.feed(p.data) for p in polled] == [
        Packet(T.EVENT, data=["hello"]),
        Packet(T.EVENT, data=["world"]),
    ]
    granted = encode_packet(Packet(T.CONNECT, "/admin", {"sid": "-G5j-67EZFp-q59rADQM"}))
    answer = encode_packet(Packet(T.ACK, "/admin", [b"\x00"], 1))
    frames = [
        engineio.encode_packet(engineio.Packet(engineio.PacketType.MESSAGE, m))
        for m in [*granted, *answer]
    ]
    assert frames == [
        '40/admin,{"sid":"-G5j-67EZFp-q59rADQM"}',
        '461-/admin,1[{"_placeholder":true,"num":0}]',
        b"\x00",
    ]


def test_data_nested_past_what_can_be_encoded_is_a_protocol_error() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(NestingTooDeep):
        encode_packet(Packet(PacketType.EVENT, "/", ["e", deep]))
