"""Every way a packet can be wrong raises its own ProtocolError subclass, with a telling message."""

from __future__ import annotations

from typing import Any

import pytest

from roomcast.protocol import errors
from roomcast.protocol.errors import (
    AttachmentMismatch,
    InvalidAckId,
    InvalidAckPayload,
    InvalidConnectPayload,
    InvalidEventPayload,
    InvalidJSON,
    InvalidNamespace,
    InvalidPayload,
    InvalidPlaceholder,
    PayloadTooLarge,
    ProtocolError,
    ReservedEventName,
    TooManyAttachments,
    UnknownPacketType,
)
from roomcast.protocol.socketio import RESERVED_EVENTS, Decoder, Packet, PacketType, encode_packet

T = PacketType
PH = '{"_placeholder":true,"num":%s}'

DECODE_ERRORS: list[tuple[list[str | bytes], type[ProtocolError], str]] = [
    (["7"], UnknownPacketType, "type '7'"),
    (["x[]"], UnknownPacketType, "type 'x'"),
    ([""], UnknownPacketType, "type ''"),
    (['2["a"'], InvalidJSON, "JSON"),
    (['2/admin,["a"]}'], InvalidJSON, "JSON"),
    (["4abc"], InvalidJSON, "JSON"),
    (['2["a",NaN]'], InvalidJSON, "JSON"),
    (["2" + "9" * 5000 + '["a"]'], InvalidAckId, "ack id"),
    (["2{}"], InvalidEventPayload, "non-empty array"),
    (["2[]"], InvalidEventPayload, "non-empty array"),
    (["2[null]"], InvalidEventPayload, "string or a number"),
    (['2abc["a"]'], InvalidJSON, "JSON"),
    (['2["disconnect"]'], ReservedEventName, "'disconnect' is reserved"),
    (["3{}"], InvalidAckPayload, "array"),
    (['3"a"'], InvalidAckPayload, "array"),
    (["0[]"], InvalidConnectPayload, "object"),
    (["0null"], InvalidConnectPayload, "object"),
    (["4[]"], InvalidConnectPayload, "string or an object"),
    (["1{}"], InvalidPayload, "DISCONNECT"),
    (['5["a"]'], AttachmentMismatch, "attachment count"),
    (['51["a"]'], AttachmentMismatch, "attachment count"),
    (['50-["a"]'], AttachmentMismatch, "no attachments"),
    (['511-["a"]'], TooManyAttachments, "11 attachments"),
    (['51-["a",' + PH % 1 + "]", b"x"], InvalidPlaceholder, "num 1"),
    (['51-["a",' + PH % '"0"' + "]", b"x"], InvalidPlaceholder, "num '0'"),
    (['51-["a",' + PH % "true" + "]", b"x"], InvalidPlaceholder, "num True"),
    ([b"x"], AttachmentMismatch, "no binary packet"),
    (['51-["a",' + PH % 0 + "]", '2["b"]'], AttachmentMismatch, "text message"),
]


@pytest.mark.parametrize(("messages", "error", "message"), DECODE_ERRORS)
def test_decode_errors(
    messages: list[str | bytes], error: type[ProtocolError], message: str
) -> None:
    decoder = Decoder()
    with pytest.raises(error, match=message):
        for item in messages:
            decoder.feed(item)
    assert not decoder.awaiting_attachments  # after an error the decoder starts afresh
    assert decoder.feed('2["ok"]') == Packet(T.EVENT, data=["ok"])


def test_max_length() -> None:
    decoder = Decoder(max_length=10)
    assert decoder.feed('2["12345"]') == Packet(T.EVENT, data=["12345"])
    with pytest.raises(PayloadTooLarge, match="11 exceeds 10"):
        decoder.feed('2["123456"]')
    assert decoder.feed('51-["a"]') is None
    with pytest.raises(PayloadTooLarge):
        decoder.feed(b"x" * 11)


def test_max_attachments_is_configurable() -> None:
    assert Decoder(max_attachments=20).feed('520-["a"]') is None
    with pytest.raises(TooManyAttachments):
        Decoder(max_attachments=1).feed('52-["a"]')


ENCODE_ERRORS: list[tuple[Packet, type[Exception], str]] = [
    *[(Packet(T.EVENT, data=[name, 1]), ReservedEventName, name) for name in RESERVED_EVENTS],
    (Packet(T.EVENT, data=[]), InvalidEventPayload, "non-empty array"),
    (Packet(T.EVENT, data={"a": 1}), InvalidEventPayload, "non-empty array"),
    (Packet(T.EVENT, data=[None]), InvalidEventPayload, "string or a number"),
    (Packet(T.EVENT, data=[b"x"]), InvalidEventPayload, "string or a number"),
    (Packet(T.ACK, data={"a": 1}, id=1), InvalidAckPayload, "array"),
    (Packet(T.CONNECT, data=[1]), InvalidConnectPayload, "object"),
    (Packet(T.CONNECT_ERROR, data=1), InvalidConnectPayload, "string or an object"),
    (Packet(T.DISCONNECT, data={}), InvalidPayload, "DISCONNECT"),
    (Packet(T.EVENT, "admin", ["a"]), InvalidNamespace, "'admin'"),
    (Packet(T.EVENT, "/a,b", ["a"]), InvalidNamespace, "','"),
    (Packet(T.EVENT, "", ["a"]), InvalidNamespace, "''"),
    (Packet(T.EVENT, data=["a"], id=-1), InvalidAckId, "-1"),
    (Packet(T.EVENT, data=["a"], id=True), InvalidAckId, "True"),
    (Packet(T.EVENT, data=["a"], id="1"), InvalidAckId, "'1'"),  # type: ignore[arg-type]
    (Packet(T.BINARY_EVENT, data=["a"]), AttachmentMismatch, "without binary"),
    (Packet(T.BINARY_ACK, data=None, id=1), AttachmentMismatch, "without binary"),
    (Packet(9, data=["a"]), UnknownPacketType, "type 9"),  # type: ignore[arg-type]
    (Packet(T.EVENT, data=["a", object()]), TypeError, "object"),
    (Packet(T.CONNECT, data={"a": b"x"}), TypeError, "bytes"),
]


@pytest.mark.parametrize(("packet", "error", "message"), ENCODE_ERRORS)
def test_encode_errors(packet: Packet, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        encode_packet(packet)


def test_hierarchy() -> None:
    names = [name for name in errors.__all__ if name != "ProtocolError"]
    classes: list[Any] = [getattr(errors, name) for name in names]
    assert all(issubclass(cls, ProtocolError) for cls in classes)
    assert len(set(classes)) == len(classes) == 16
    assert issubclass(ProtocolError, ValueError)
    assert issubclass(ReservedEventName, InvalidEventPayload)
