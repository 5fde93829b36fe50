"""The pluggable Socket.IO parser: how packets become Engine.IO messages and back.

A :class:`Parser` pairs an encoder (one packet to the Engine.IO MESSAGE payloads that carry it,
encoded once and handed unchanged to every recipient of a broadcast) with a factory of
decoders (one per connection, fed those payloads in order). Two are built in:
:data:`JSON_PARSER` (``socket.io-parser``'s format, the default) and
:data:`roomcast.protocol.msgpack.MSGPACK_PARSER` (``socket.io-msgpack-parser``'s; needs the
``msgpack`` package). :func:`parser_named` finds either by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .socketio import Decoder, Packet, encode_packet

__all__ = ["JSON_PARSER", "PacketDecoder", "Parser", "parser_named"]


class PacketDecoder(Protocol):
    """The decoder of one connection's messages (:class:`~.socketio.Decoder` is one)."""

    def feed(self, message: str | bytes) -> Packet | None:
        """Decode one Engine.IO MESSAGE payload: a packet, or None while one is incomplete.

        Raises a :class:`~.errors.ProtocolError` for a message the parser refuses."""
        ...

    def reset(self) -> None:
        """Forget a packet in progress (the connection is closing)."""
        ...


@dataclass(frozen=True, slots=True)
class Parser:
    """A Socket.IO parser: ``encode`` and a ``decoder`` factory, both pure (no I/O).

    ``encode(packet)`` returns the Engine.IO MESSAGE payloads of ``packet`` (``str`` for text
    frames, ``bytes`` for binary ones) and raises :class:`~.errors.ProtocolError` (or
    ``TypeError`` for a value it cannot encode); it must not keep or change ``packet``.
    ``decoder(max_attachments)`` returns a fresh :class:`PacketDecoder` for one connection
    (``max_attachments``: the limit of binary attachments per packet, for parsers that have them).
    """

    name: str
    encode: Callable[[Packet], list[str | bytes]]
    decoder: Callable[[int], PacketDecoder]


def _json_decoder(max_attachments: int) -> PacketDecoder:
    return Decoder(max_attachments=max_attachments)


JSON_PARSER = Parser("json", encode_packet, _json_decoder)
"""The default parser: text packets with JSON payloads, binary values as attachments
(:mod:`.socketio`), as ``socket.io-parser`` 4 (every official client's default)."""


def parser_named(name: str) -> Parser:
    """The built-in parser called ``name``: ``"json"`` or ``"msgpack"`` (ValueError otherwise;
    ImportError for ``"msgpack"`` without the ``msgpack`` package)."""
    if name == "json":
        return JSON_PARSER
    if name == "msgpack":
        from .msgpack import MSGPACK_PARSER

        return MSGPACK_PARSER
    raise ValueError(f"unknown parser {name!r}: 'json' or 'msgpack'")
