"""Pure wire codecs for Engine.IO v4 and Socket.IO protocol 5: no I/O, dataclasses in and out.

Modules: :mod:`.engineio` (Engine.IO packets and polling payloads), :mod:`.socketio` (Socket.IO
packets, :class:`~.socketio.Decoder`), :mod:`.binary` (attachments), :mod:`.jsoncodec` (JSON like
``JSON.stringify``), :mod:`.parser` (the pluggable :class:`~.parser.Parser`, JSON by default),
:mod:`.msgpack` (the msgpack parser; imported on demand: it needs ``msgpack``),
:mod:`.errors` (:class:`ProtocolError` and its subclasses, re-exported here).
"""

from . import binary, engineio, errors, jsoncodec, parser, socketio
from .errors import *  # noqa: F403

__all__ = ["binary", "engineio", "errors", "jsoncodec", "parser", "socketio", *errors.__all__]
