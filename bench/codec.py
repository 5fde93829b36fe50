"""Codec rates: roomcast.protocol next to python-socketio's ``socketio.packet.Packet``, same run.

Run with ``.venv/bin/python -m bench.codec``; add ``--stdlib`` to force roomcast's stdlib JSON
backend (python-socketio always uses the stdlib ``json``). Prints operations per second and the
ratio roomcast / python-socketio for the encode and the decode of a small text event and of a
binary event.
"""

from __future__ import annotations

import os
import subprocess
import sys
import timeit
from collections.abc import Callable
from typing import Any

SMALL = ["message", {"name": "John", "id": "123", "message": "hello"}]
SMALL_WIRE = '2["message",{"name":"John","id":"123","message":"hello"}]'
BINARY = ["upload", {"name": "photo.png", "data": b"\x89PNG" + bytes(1020)}, 3]


def rate(func: Callable[[], Any], seconds: float = 0.25, repeat: int = 3) -> float:
    """Best operations per second of ``func`` over ``repeat`` runs of about ``seconds`` each."""
    timer = timeit.Timer(func)
    number, elapsed = timer.autorange()
    number = max(1, int(number * seconds / elapsed))
    return number / min(timer.repeat(repeat=repeat, number=number))


def cases() -> list[tuple[str, Callable[[], Any], Callable[[], Any]]]:
    """(name, roomcast function, python-socketio function) for each measured operation."""
    from socketio import packet as sio  # type: ignore[import-untyped]

    from roomcast.protocol.socketio import Decoder, Packet, PacketType, encode_packet

    event = PacketType.EVENT
    binary_wire = encode_packet(Packet(event, "/", BINARY))
    assert sio.Packet(sio.EVENT, data=SMALL).encode() == SMALL_WIRE
    assert encode_packet(Packet(event, "/", SMALL)) == [SMALL_WIRE]
    decoder = Decoder()
    feed = decoder.feed

    def ours_decode_binary() -> Any:
        feed(binary_wire[0])
        return feed(binary_wire[1])

    def theirs_decode_binary() -> Any:
        pkt = sio.Packet(encoded_packet=binary_wire[0])
        pkt.add_attachment(binary_wire[1])
        return pkt

    return [
        (
            "encode small event",
            lambda: encode_packet(Packet(event, "/", SMALL)),
            lambda: sio.Packet(sio.EVENT, data=SMALL).encode(),
        ),
        (
            "decode small event",
            lambda: feed(SMALL_WIRE),
            lambda: sio.Packet(encoded_packet=SMALL_WIRE),
        ),
        (
            "encode binary event",
            lambda: encode_packet(Packet(event, "/", BINARY)),
            lambda: sio.Packet(sio.EVENT, data=BINARY).encode(),
        ),
        ("decode binary event", ours_decode_binary, theirs_decode_binary),
    ]


def main(argv: list[str] | None = None) -> int:
    """Measure and print the table; ``--stdlib`` re-runs itself with ROOMCAST_JSON=stdlib."""
    args = sys.argv[1:] if argv is None else argv
    if "--stdlib" in args and os.environ.get("ROOMCAST_JSON") != "stdlib":
        env = {**os.environ, "ROOMCAST_JSON": "stdlib"}
        return subprocess.call([sys.executable, "-m", "bench.codec"], env=env)
    from roomcast.protocol import jsoncodec

    print(f"roomcast JSON backend: {jsoncodec.BACKEND}")
    print(f"{'operation':<22}{'roomcast/s':>14}{'python-socketio/s':>20}{'ratio':>8}")
    for name, ours, theirs in cases():
        ours_rate, theirs_rate = rate(ours), rate(theirs)
        ratio = ours_rate / theirs_rate
        print(f"{name:<22}{ours_rate:>14,.0f}{theirs_rate:>20,.0f}{ratio:>7.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
