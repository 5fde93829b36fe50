"""The broadcast fast path: Engine.IO messages encoded once, their WebSocket frames built once."""

from __future__ import annotations

from collections.abc import Sequence

from ..protocol.engineio import Packet, PacketType, encode_payload
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
        messages = self.messages
        self.size = len(messages[0]) if len(messages) == 1 else sum(map(len, messages))
        """Approximate payload size in bytes, for write-buffer accounting."""

    def websocket_frames(self) -> bytes:
        """All messages as unmasked, uncompressed WebSocket frames, concatenated."""
        frames = self._frames
        if frames is None:
            parts = []
            for message in self.messages:
                if isinstance(message, str):  # encode_packet's MESSAGE forms, inline
                    parts.append(text_frame(("4" + message).encode()))
                else:
                    parts.append(binary_frame(bytes(message)))
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
