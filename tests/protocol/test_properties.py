"""Hypothesis properties: encode/decode round trips, and no decoder input escapes ProtocolError."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roomcast.protocol import engineio, jsoncodec
from roomcast.protocol.errors import InvalidEnginePacket, InvalidJSON, ProtocolError
from roomcast.protocol.socketio import RESERVED_EVENTS, Decoder, Packet, PacketType, encode_packet

T = PacketType
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _view(data: bytes) -> memoryview:
    return memoryview(data)


binary: st.SearchStrategy[bytes | bytearray | memoryview] = st.one_of(
    st.binary(max_size=64), st.binary(max_size=8).map(bytearray), st.binary(max_size=8).map(_view)
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),  # JSON.parse makes bigger ones floats
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
keys = st.text().filter(lambda key: key != "_placeholder")
json_values = st.recursive(
    scalars | binary,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(keys, children, max_size=4)
        | st.tuples(children, children)
    ),
    max_leaves=20,
)
plain_json = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=10,
)
namespaces = st.just("/") | st.text(min_size=1).map(lambda s: "/" + s.replace(",", ""))
ack_ids = st.none() | st.integers(min_value=0, max_value=2**64) | st.integers(min_value=0)
event_names = st.text().filter(lambda name: name not in RESERVED_EVENTS) | st.integers(0, 2**53)


@st.composite
def packets(draw: st.DrawFn) -> Packet:
    type_ = draw(st.sampled_from(T))
    nsp = draw(namespaces)
    if type_ in (T.EVENT, T.BINARY_EVENT):
        data: Any = [draw(event_names), *draw(st.lists(json_values, max_size=4))]
        if type_ is T.BINARY_EVENT:
            data.append(draw(binary))
        return Packet(type_, nsp, data, draw(ack_ids))
    if type_ in (T.ACK, T.BINARY_ACK):
        data = draw(st.lists(json_values, max_size=4))
        if type_ is T.BINARY_ACK:
            data.insert(draw(st.integers(0, len(data))), draw(binary))
        return Packet(type_, nsp, data, draw(ack_ids))
    if type_ is T.CONNECT:
        return Packet(type_, nsp, draw(st.none() | st.dictionaries(keys, plain_json, max_size=4)))
    if type_ is T.CONNECT_ERROR:
        return Packet(type_, nsp, draw(st.text() | st.dictionaries(keys, plain_json, max_size=3)))
    return Packet(type_, nsp)


def expected(value: Any) -> Any:
    """What decoding gives back: bytes for any bytes-like value, lists for tuples."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, list | tuple):
        return [expected(item) for item in value]
    if isinstance(value, dict):
        return {key: expected(item) for key, item in value.items()}
    return value


def upgraded(packet: Packet, has_buffers: bool) -> PacketType:
    if has_buffers:
        return {T.EVENT: T.BINARY_EVENT, T.ACK: T.BINARY_ACK}.get(packet.type, packet.type)
    return packet.type


@SETTINGS
@given(packets())
def test_decode_encode_round_trip(packet: Packet) -> None:
    messages = encode_packet(packet)
    assert isinstance(messages[0], str)
    assert all(isinstance(m, bytes) for m in messages[1:])
    decoder = Decoder(max_attachments=1000)
    results = [decoder.feed(m) for m in messages]
    assert results[:-1] == [None] * (len(messages) - 1)
    want = Packet(upgraded(packet, len(messages) > 1), packet.nsp, expected(packet.data), packet.id)
    assert results[-1] == want
    assert encode_packet(want) == messages  # the decoded packet re-encodes to the same wire


GRAMMAR = st.tuples(
    st.sampled_from("0123456789x"),
    st.sampled_from(["", "1-", "2-", "0-", "11-", "-"]),
    st.sampled_from(["", "/", "/a,", "/a", "/,", ","]),
    st.sampled_from(["", "0", "12", "9" * 30]),
    st.one_of(st.text(max_size=30), plain_json.map(jsoncodec.dumps), json_values.map(repr)),
).map("".join)


@SETTINGS
@given(st.lists(st.text() | st.binary() | GRAMMAR, min_size=1, max_size=5))
def test_decoder_never_raises_anything_but_protocol_error(messages: list[str | bytes]) -> None:
    decoder = Decoder(max_length=200)
    for message in messages:
        try:
            packet = decoder.feed(message)
        except ProtocolError:
            continue
        assert packet is None or isinstance(packet, Packet)
        assert (packet is None) == decoder.awaiting_attachments


@SETTINGS
@given(st.text() | st.binary())
def test_engineio_decode_packet_total(data: str | bytes) -> None:
    try:
        packet = engineio.decode_packet(data)
    except InvalidEnginePacket:
        return
    assert isinstance(packet, engineio.Packet)


@SETTINGS
@given(st.text())
def test_engineio_decode_payload_total(data: str) -> None:
    try:
        packets = engineio.decode_payload(data)
    except ProtocolError:
        return
    assert packets


engine_packets = st.builds(
    engineio.Packet,
    st.sampled_from(engineio.PacketType),
    st.text().map(lambda s: s.replace("\x1e", "")),
) | st.builds(engineio.Packet, st.just(engineio.PacketType.MESSAGE), st.binary())


@SETTINGS
@given(st.lists(engine_packets, min_size=1, max_size=6))
def test_engineio_payload_round_trip(packets: list[engineio.Packet]) -> None:
    assert engineio.decode_payload(engineio.encode_payload(packets)) == packets
    for packet in packets:
        assert engineio.decode_packet(engineio.encode_packet(packet)) == packet


@SETTINGS
@given(st.text() | st.binary())
def test_json_loads_total(data: str | bytes) -> None:
    try:
        value = jsoncodec.loads(data)
    except InvalidJSON:
        return
    assert jsoncodec.loads(jsoncodec.dumps(value)) == value


@SETTINGS
@given(plain_json)
def test_json_round_trip(value: Any) -> None:
    assert jsoncodec.loads(jsoncodec.dumps(value)) == value
