"""Where a client's WebSocket frames begin and end, and the common ones unmasked here (Sans-I/O).

The one exception to "every WebSocket byte goes through ``websockets``", made because its
generator-based frame parser was about a third of the server's busy time on acknowledged
events. :class:`ClientFrames` walks the bytes a client sends, frame by frame, in one pass:

- a *simple* frame (a complete, masked, unfragmented text or binary frame, RSV bits clear,
  within ``max_size``) is unmasked here with websockets' own ``apply_mask`` (its C version);
- every other frame (control frames, fragments, reserved bits or opcodes, unmasked, oversized)
  is handed over, exactly its bytes, for websockets to parse, answer and fail as it always did.

Handing over a frame that is not all there yet leaves a count of the bytes websockets still
needs to finish it (:attr:`ClientFrames.pending`): they go to websockets first, so its parser is
always at a frame boundary when this module parses. The caller decides whether simple frames
may be parsed here at all (an open connection, no extension, no fragmented message going on);
see :class:`~roomcast.engine.websocket.WebSocketTransport`. No I/O here.

Frames after a simple one are parsed only once it is delivered, where websockets alone parsed a
whole read first. So a pong now leaves in frame order among the answers to the messages of the
same read (it went after all of them), and after a message that fails the connection (1007), the
frames later in the same read are no longer answered (a pong, a close echo: RFC 6455 7.1.7), and
a message whose handling closes the session now has its close frame sent before the pong of a
ping later in the same read.
"""

from __future__ import annotations

from websockets.frames import Opcode

try:  # websockets' C speedups when built, else its pure Python version (same results)
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets ships wheels with the speedups
    from websockets.utils import apply_mask

__all__ = ["LARGE", "ClientFrames"]

LARGE = 1 << 16
"""A simple frame with a longer payload is not kept here until complete: it is handed over."""

_TEXT, _BINARY = Opcode.TEXT, Opcode.BINARY
_FIN_TEXT, _FIN_BINARY = 0x80 | _TEXT, 0x80 | _BINARY
_OPCODES = frozenset(int(opcode) for opcode in Opcode)


class ClientFrames:
    """Splits the bytes of one client connection into frames (see the module's docstring)."""

    __slots__ = ("_buffer", "max_size", "pending")

    def __init__(self, max_size: int) -> None:
        self._buffer = bytearray()
        self.max_size = max_size
        """The largest payload parsed here: websockets' ``max_size`` (it fails a larger one)."""
        self.pending = 0
        """Bytes websockets still needs to finish the frame handed to it last."""

    def split(
        self, data: bytes | bytearray, simple: bool
    ) -> tuple[list[tuple[Opcode, bytes]], bytes | bytearray | None]:
        """Add ``data`` (may be empty) to what is buffered and split it.

        Returns the simple frames found, in order, as ``(opcode, payload)`` (none when
        ``simple`` is false: every frame is handed over), and then the bytes to hand to
        websockets now, or ``None``. Those bytes come after the simple frames returned and
        before anything still buffered: feed them, then call again (with ``b""``) until this
        returns ``None``. Bytes websockets would fail as soon as it reads them (a reserved
        opcode, a missing mask, a length over ``max_size``) are handed over with everything
        after them.
        """
        buffer = self._buffer
        if buffer:
            buffer += data
            data = buffer
        end = len(data)
        if not end:
            return [], None
        pending = self.pending
        if pending:  # the rest of a frame handed over
            if pending >= end:
                self.pending = pending - end
                whole = bytes(data)
                buffer.clear()
                return [], whole
            self.pending = 0
            part = data[:pending]
            self._keep(data, pending)
            return [], part
        frames: list[tuple[Opcode, bytes]] = []
        out: bytes | bytearray | None = None
        pos = 0
        max_size = self.max_size
        while end - pos >= 2:
            head = data[pos]
            length = data[pos + 1]
            if length < 0x80 or head & 0x0F not in _OPCODES:
                out = data[pos:]  # websockets fails it on these two bytes
                pos = end
                break
            length &= 0x7F
            if length < 126:
                start = pos + 6
            elif length == 126:
                if end - pos < 4:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 4], "big")
                start = pos + 8
            else:
                if end - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                start = pos + 14
            if length > max_size:
                out = data[pos:]  # websockets fails it once it has read the length
                pos = end
                break
            if start > end:
                break  # the mask is not all there
            stop = start + length
            if simple and head in (_FIN_TEXT, _FIN_BINARY):
                if stop <= end:
                    frames.append(
                        (
                            _TEXT if head == _FIN_TEXT else _BINARY,
                            apply_mask(data[start:stop], data[start - 4 : start]),
                        )
                    )
                    pos = stop
                    continue
                if length < LARGE:
                    break  # kept until complete
            if stop > end:  # handed over as it comes
                self.pending = stop - end
                stop = end
            out = data[pos:stop]
            pos = stop
            break
        if pos == end:
            buffer.clear()
        else:
            self._keep(data, pos)
        return frames, out

    def _keep(self, data: bytes | bytearray, pos: int) -> None:
        buffer = self._buffer
        if data is buffer:
            del buffer[:pos]
        else:
            buffer += memoryview(data)[pos:]

    def drain(self) -> bytes:
        """Everything buffered (for websockets, when this splitter is given up); empties it."""
        out = bytes(self._buffer)
        self._buffer.clear()
        return out
