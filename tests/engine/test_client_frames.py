"""The client frame splitter (roomcast.engine.client_frames) against websockets alone.

Every stream of client frames, cut anywhere, must give the same messages in the same order, the
same bytes written back (101, pongs, close frames) and the same close reason with the splitter
as with every byte parsed by websockets (``fast_frames=False``). The server side is a real
asyncio transport on a socketpair; the chunks are handed to the transport's ``data_received``
one by one, so the cuts are exactly the drawn ones, and the end of the stream is a real EOF.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import socket
import struct
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.utils import apply_mask

from roomcast.engine.client_frames import ClientFrames
from roomcast.engine.websocket import WebSocketTransport, open_websocket

MAX = 70_000  # max_size given to websockets: 65536 fits, MAX + 1 does not
LIMITS = (MAX, 126, 130)  # the max_size of a run, drawn
OVER = (MAX + 1, 127, 131)  # the payload sizes of the "oversized" frames
TIMEOUT = 10.0
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
REQUEST = (
    "GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
    f"Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
).encode()
HEADERS = {
    "host": "x",
    "upgrade": "websocket",
    "connection": "Upgrade",
    "sec-websocket-key": KEY,
    "sec-websocket-version": "13",
}
TEXT, BINARY, CONT, CLOSE, PING, PONG = 1, 2, 0, 8, 9, 10
MASK = b"\x37\xfa\x21\x3d"


def frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    width: int | None = None,
) -> bytes:
    """A client frame, its length in the 7-, 16- or 64-bit encoding (``width``; the shortest
    one by default: websockets takes any)."""
    n = len(payload)
    if width is None:
        width = 7 if n < 126 else 16 if n < 65536 else 64
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    bit = 0x80 if masked else 0
    if width == 7:
        head += bytes([bit | n])
    elif width == 16:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    return head + MASK + apply_mask(payload, MASK)


def widths(n: int) -> st.SearchStrategy[int]:
    return st.sampled_from(
        [w for w in (7, 16, 64) if n < 126 or w == 64 or (w == 16 and n < 65536)]
    )


SIZES = st.sampled_from([0, 1, 2, 125, 126, 127, 65535, 65536]) | st.integers(0, 300)


@st.composite
def payload(draw: st.DrawFn, text: bool) -> bytes:
    n = draw(SIZES)
    if text:  # valid UTF-8 of n bytes, multi-byte characters included
        small = draw(st.text(max_size=40)).encode()[:n]
        small = small.decode(errors="ignore").encode()
        return small + b"x" * (n - len(small))
    return draw(st.binary(max_size=40)).ljust(n, b"\x00")[:n]


@st.composite
def data_frame(draw: st.DrawFn) -> list[bytes]:
    opcode = draw(st.sampled_from([TEXT, BINARY]))
    data = draw(payload(opcode == TEXT))
    return [frame(opcode, data, width=draw(widths(len(data))))]


@st.composite
def control_frame(draw: st.DrawFn) -> list[bytes]:
    opcode = draw(st.sampled_from([PING, PONG]))
    return [frame(opcode, draw(st.binary(max_size=125)))]


@st.composite
def fragmented(draw: st.DrawFn) -> list[bytes]:
    opcode = draw(st.sampled_from([TEXT, BINARY]))
    data = draw(payload(opcode == TEXT))
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=3)))
    parts = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    out = []
    for i, part in enumerate(parts):
        out.append(frame(opcode if i == 0 else CONT, part, fin=i == len(parts) - 1))
        if draw(st.booleans()):
            out.extend(draw(control_frame()))
    return out


@st.composite
def close_frame(draw: st.DrawFn) -> list[bytes]:
    body = draw(
        st.sampled_from([b"", struct.pack("!H", 1000), struct.pack("!H", 4001) + b"bye", b"\x03"])
    )
    return [frame(CLOSE, body)]


@st.composite
def invalid_frame(draw: st.DrawFn) -> list[bytes]:
    kind = draw(st.sampled_from(range(9)))
    data = draw(st.binary(max_size=10))
    if kind == 0:
        return [frame(draw(st.sampled_from([TEXT, BINARY, PING])), data, masked=False)]
    if kind == 1:
        opcode = draw(st.sampled_from([TEXT, BINARY, PING]))
        return [frame(opcode, data, rsv=draw(st.integers(1, 7)))]
    if kind == 2:
        return [frame(draw(st.sampled_from([3, 4, 5, 6, 7, 11, 12, 13, 14, 15])), data)]
    if kind == 3:  # a control frame too long
        return [frame(PING, b"p" * 126)]
    if kind == 4:
        return [frame(PING, data, fin=False)]
    if kind == 5:
        opcode = draw(st.sampled_from([TEXT, BINARY]))
        return [frame(opcode, b"4" * draw(st.sampled_from(OVER)))]
    if kind == 6:
        return [frame(CONT, data)]
    if kind == 7:  # a new message while a fragmented one goes on
        return [frame(TEXT, b"a", fin=False), frame(BINARY, data)]
    return [frame(BINARY, data, fin=False)]  # a message never finished


# Once a message's invalid UTF-8 fails the connection, websockets alone still answered the
# frames it had parsed in the same read (pongs, even a close echo) before roomcast failed it;
# the splitter stops at the failing frame (RFC 6455 7.1.7). So invalid UTF-8 ends a stream.
@st.composite
def invalid_utf8(draw: st.DrawFn) -> list[bytes]:
    bad = draw(st.sampled_from([b"4\xff", b"\xc3", b"4\xed\xa0\x80", b"\xf4\x90\x80\x80"]))
    if draw(st.booleans()):
        return [frame(TEXT, bad, width=draw(widths(len(bad))))]
    return [frame(TEXT, bad[:1], fin=False), frame(CONT, bad[1:])]


ITEM = data_frame() | control_frame() | fragmented() | close_frame() | invalid_frame()


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    items = draw(st.lists(ITEM | data_frame() | invalid_frame(), max_size=8))
    if draw(st.booleans()):
        items.append(draw(invalid_utf8()))
    return b"".join(b"".join(item) for item in items)


class Recorder:
    """Stands for the session: what the transport delivers and reports, in order."""

    sid = "recorder"

    def __init__(self) -> None:
        self.delivered: list[str | bytes] = []
        self.closed: list[tuple[str, str | None]] = []

    def receive(self, transport: Any, data: str | bytes) -> None:
        self.delivered.append(data)

    def transport_closed(self, transport: Any, reason: str, description: str | None) -> None:
        self.closed.append((reason, description))


async def run(
    chunks: list[bytes], *, fast: bool, short: bool, limit: int = MAX
) -> tuple[list[str | bytes], bytes, list[tuple[str, str | None]]]:
    """Open a WebSocket on a socketpair with the first chunk behind the request, feed the
    others, end with EOF: (messages delivered, bytes written back, close reports)."""
    loop = asyncio.get_running_loop()
    server_sock, client = socket.socketpair()
    client.setblocking(False)
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, server_sock)
    ws = open_websocket(
        transport,  # type: ignore[arg-type]
        REQUEST + chunks[0],
        max_payload=limit,
        compression=False,
        extra_headers=[],
        headers=HEADERS if short else None,
        fast_frames=fast,
    )
    assert isinstance(ws, WebSocketTransport)
    recorder = Recorder()
    ws.session = recorder  # type: ignore[assignment]
    ws.start()
    for chunk in chunks[1:]:
        if transport.is_closing():
            break
        ws.data_received(chunk)
    client.shutdown(socket.SHUT_WR)
    written = bytearray()
    while True:
        data = await asyncio.wait_for(loop.sock_recv(client, 1 << 16), TIMEOUT)
        if not data:
            break
        written += data
    client.close()
    # websockets' own 101 has a Date header: the two runs may fall in different seconds.
    written = bytearray(re.sub(rb"\r\nDate: [^\r]*", b"", written))
    return recorder.delivered, bytes(written), recorder.closed


def compare(stream: bytes, cuts: list[int], short: bool, limit: int) -> None:
    bounds = [0, *sorted(set(cuts)), len(stream)]
    chunks = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    slow = asyncio.run(run(chunks, fast=False, short=short, limit=limit))
    fast = asyncio.run(run(chunks, fast=True, short=short, limit=limit))
    assert fast == slow


@st.composite
def cut_stream(draw: st.DrawFn) -> tuple[bytes, list[int], bool, int]:
    stream = draw(streams())
    n = len(stream)
    cuts = draw(st.lists(st.integers(0, n), max_size=12))
    if draw(st.booleans()):  # nothing behind the request: all through data_received
        cuts.append(0)
    if n and draw(st.booleans()):  # a stretch trickled byte by byte
        start = draw(st.integers(0, n - 1))
        cuts += range(start, min(n, start + 40))
    return stream, cuts, draw(st.booleans()), draw(st.sampled_from(LIMITS))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut_stream())
def test_same_as_websockets_alone(case: tuple[bytes, list[int], bool, int]) -> None:
    compare(*case)


def test_all_length_encodings_and_sizes_delivered() -> None:
    frames = []
    expected: list[str | bytes] = []
    for n in (0, 125, 126, 65535, 65536):
        for width in (7, 16, 64):
            if (width == 7 and n > 125) or (width == 16 and n > 65535):
                continue
            frames.append(frame(TEXT, b"t" * n, width=width))
            frames.append(frame(BINARY, b"\x01" * n, width=width))
            expected += ["t" * n, b"\x01" * n]
    stream = b"".join(frames) + frame(CLOSE, struct.pack("!H", 1000))
    for cuts in (
        [],
        list(range(0, len(stream), 7000)),
        list(range(len(stream) - 300, len(stream))),
    ):
        bounds = [0, *cuts, len(stream)]
        chunks = [stream[a:b] for a, b in itertools.pairwise(bounds)]
        delivered, written, closed = asyncio.run(run(chunks, fast=True, short=True))
        assert delivered == expected
        assert written.endswith(b"\x88\x02\x03\xe8")  # the close echoed
        assert closed == [("transport close", None)]


def test_splitter_alone() -> None:
    frames = ClientFrames(MAX)
    text, ping = frame(TEXT, "héllo".encode()), frame(PING, b"p")
    simple, other = frames.split(text + ping + text[:3], True)
    assert simple == [(TEXT, "héllo".encode())]
    assert other == ping
    simple, other = frames.split(b"", True)  # the partial frame is kept
    assert (simple, other) == ([], None)
    simple, other = frames.split(text[3:], True)
    assert (simple, other) == ([(TEXT, "héllo".encode())], None)
    # A frame handed over before it is complete: websockets gets the rest first.
    big = frame(PING, b"x" * 100)
    assert frames.split(big[:50], True) == ([], big[:50])
    assert frames.pending == len(big) - 50
    assert frames.split(big[50:] + text, True) == ([], big[50:])
    assert frames.split(b"", True) == ([(TEXT, "héllo".encode())], None)


def test_limit_exact_and_over() -> None:
    # The splitter parses a frame of max_size bytes; one more byte is websockets' 1009.
    for cuts in ([0], [0, 3], [0, *range(1, 140)]):
        for size, code in ((130, None), (131, b"\x03\xf1")):
            stream = frame(TEXT, b"4" * size) + frame(PING, b"p")
            bounds = [*cuts, len(stream)]
            chunks = [stream[a:b] for a, b in itertools.pairwise(bounds)]
            delivered, written, closed = asyncio.run(run(chunks, fast=True, short=True, limit=130))
            if code is None:
                assert delivered == ["4" * 130]
                assert written.endswith(b"\x8a\x01p")  # the pong
                assert closed == [("transport close", None)]  # at the EOF
            else:
                assert delivered == []
                assert written.endswith(b"\x88\x02" + code)
                assert closed[0][0] == "transport error"
