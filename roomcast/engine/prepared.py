"""The broadcast fast path: Engine.IO messages encoded once, their WebSocket frames built once."""

from __future__ import annotations

from collections.abc import Sequence

from ..protocol.engineio import Packet, PacketType, encode_packet, encode_payload
from .server_frames import binary_frame, text_frame

__all__ = ["PreparedMessage"]

_MESSAGE = PacketType.MESSAGE


class PreparedMessage:
    """Engine.IO MESSAGE payloads to hand unchanged to any number of sessions.

    Server frames are unmasked, so one serialized frame is valid for every WebSocket without
    extensions: :meth:`websocket_frames` builds that bytes object on first use and keeps it.
    :meth:`polling_packets` does the same for the polling form of each packet.
    ``compress=False`` (``emit`` with ``compress(False)``) sends those uncompressed frames
    even where permessage-deflate is negotiated.
    """

    __slots__ = ("_frames", "_polling", "compress", "messages", "size")

    def __init__(self, messages: Sequence[str | bytes], compress: bool = True) -> None:
        self.messages: tuple[str | bytes, ...] = tuple(messages)
        self.compress = compress
        """Whether a WebSocket with permessage-deflate compresses these messages."""
        self._frames: bytes | None = None
        self._polling: tuple[str, ...] | None = None
        self.size = sum(len(m) for m in self.messages)
        """Approximate payload size in bytes, for write-buffer accounting."""

    def websocket_frames(self) -> bytes:
        """All messages as unmasked, uncompressed WebSocket frames, concatenated."""
        frames = self._frames
        if frames is None:
            parts = []
            for message in self.messages:
                encoded = encode_packet(Packet(_MESSAGE, message))
                if isinstance(encoded, str):
                    parts.append(text_frame(encoded.encode()))
                else:
                    parts.append(binary_frame(encoded))
            frames = self._frames = b"".join(parts)
        return frames

    def polling_packets(self) -> tuple[str, ...]:
        """Each message in its polling payload form (``"4text"`` or ``"b<base64>"``)."""
        packets = self._polling
        if packets is None:
            packets = self._polling = tuple(
                encode_payload((Packet(_MESSAGE, m),)) for m in self.messages
            )
        return packets
