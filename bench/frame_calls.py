"""Python work per received client frame: the frame splitter next to websockets' parser.

Run with ``.venv/bin/python -m bench.frame_calls``. Feeds one read of 50 masked text frames (an
ack burst) to ``WebSocketTransport.data_received`` with ``fast_frames`` on and off, counts the
Python function calls (and C calls) per frame with ``sys.setprofile``, deterministic, then times
it with ``timeit`` (noisy, indicative only). The session's ``receive`` is one of the calls.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import timeit
from types import FrameType
from typing import Any

from websockets.frames import Frame, Opcode
from websockets.protocol import OPEN

from roomcast.engine.websocket import WebSocketTransport, _ServerProtocol

FRAMES = 50


class Sink:
    """Stands for the session."""

    sid = "bench"

    def __init__(self) -> None:
        self.received = 0

    def receive(self, transport: Any, data: str | bytes) -> None:
        self.received += 1

    def transport_closed(self, transport: Any, reason: str, description: str | None) -> None:
        pass


async def measure(fast: bool) -> tuple[float, float, float]:
    """(Python calls, C calls, seconds) per frame."""
    loop = asyncio.get_running_loop()
    server, client = socket.socketpair()
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, server)
    protocol = _ServerProtocol(max_size=1_000_000, state=OPEN)
    ws = WebSocketTransport(transport, protocol, fast_frames=fast)  # type: ignore[arg-type]
    sink = Sink()
    ws.session = sink  # type: ignore[assignment]
    read = b"".join(
        Frame(Opcode.TEXT, b'43%d[{"ok":true}]' % i).serialize(mask=True, extensions=[])
        for i in range(FRAMES)
    )
    ws.data_received(read)  # warm up
    counts = {"call": 0, "c_call": 0}

    def count(frame: FrameType, event: str, arg: Any) -> None:
        if event in counts:
            counts[event] += 1

    sys.setprofile(count)
    ws.data_received(read)
    sys.setprofile(None)
    assert sink.received == 2 * FRAMES
    best = min(timeit.repeat(lambda: ws.data_received(read), number=200, repeat=5))
    transport.close()
    client.close()
    return counts["call"] / FRAMES, counts["c_call"] / FRAMES, best / 200 / FRAMES


def main() -> None:
    for fast in (False, True):
        calls, c_calls, seconds = asyncio.run(measure(fast))
        name = "splitter" if fast else "websockets"
        print(
            f"{name:>10}: {calls:5.2f} Python calls, {c_calls:5.2f} C calls per frame; "
            f"{seconds * 1e6:.2f} us per frame (noisy)"
        )


if __name__ == "__main__":
    main()
