"""Engine.IO v4 packets and payloads, from the examples of the engine.io-protocol document."""

from __future__ import annotations

import pytest

from roomcast.protocol.engineio import (
    SEPARATOR,
    Packet,
    PacketType,
    decode_packet,
    decode_payload,
    encode_packet,
    encode_payload,
)
from roomcast.protocol.errors import InvalidEnginePacket, ProtocolError

T = PacketType

PACKETS = [
    ('0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"]}', T.OPEN,
     '{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"]}'),
    ("1", T.CLOSE, ""),
    ("2", T.PING, ""),
    ("3", T.PONG, ""),
    ("2probe", T.PING, "probe"),
    ("3probe", T.PONG, "probe"),
    ("4hello", T.MESSAGE, "hello"),
    ("4", T.MESSAGE, ""),
    ("4é😀\x1f", T.MESSAGE, "é😀\x1f"),
    ("5", T.UPGRADE, ""),
    ("6", T.NOOP, ""),
]  # fmt: skip


@pytest.mark.parametrize(("wire", "type_", "data"), PACKETS)
def test_text_packet_both_ways(wire: str, type_: PacketType, data: str) -> None:
    assert decode_packet(wire) == Packet(type_, data)
    assert encode_packet(Packet(type_, data)) == wire


@pytest.mark.parametrize("raw", [b"\x01\x02\x03\x04", bytearray(b"\x00"), memoryview(b"ab")])
def test_binary_frame_is_a_message(raw: bytes) -> None:
    packet = decode_packet(raw)
    assert packet == Packet(T.MESSAGE, bytes(raw))
    assert type(packet.data) is bytes
    assert encode_packet(packet) == bytes(raw)


def test_base64_text_frame_is_a_binary_message() -> None:
    assert decode_packet("bAQIDBA==") == Packet(T.MESSAGE, b"\x01\x02\x03\x04")


def test_payload_example_from_the_protocol_document() -> None:
    wire = "4hello\x1e2\x1e4world\x1ebAQIDBA=="
    packets = [
        Packet(T.MESSAGE, "hello"),
        Packet(T.PING),
        Packet(T.MESSAGE, "world"),
        Packet(T.MESSAGE, b"\x01\x02\x03\x04"),
    ]
    assert decode_payload(wire) == packets
    assert encode_payload(packets) == wire
    assert SEPARATOR == "\x1e"


def test_single_packet_payload() -> None:
    assert decode_payload("6") == [Packet(T.NOOP)]
    assert encode_payload([Packet(T.NOOP)]) == "6"
    assert encode_payload([]) == ""


@pytest.mark.parametrize(
    ("wire", "problem"),
    [
        ("", "empty"),
        ("7", "unknown"),
        ("x", "unknown"),
        ("b", None),  # empty base64 is an empty binary message: accepted
        ("bAQ==", None),
        ("bAQ", "base64"),
        ("b!!!!", "base64"),
        ("bAQIDBA==x", "base64"),
    ],
)
def test_bad_packets(wire: str, problem: str | None) -> None:
    if problem is None:
        assert decode_packet(wire).type is T.MESSAGE
        return
    with pytest.raises(InvalidEnginePacket, match=problem):
        decode_packet(wire)


@pytest.mark.parametrize("wire", ["", "4a\x1e", "4a\x1e\x1e2", "4a\x1e9", "bQQ\x1e4"])
def test_bad_payloads(wire: str) -> None:
    with pytest.raises(ProtocolError):
        decode_payload(wire)
