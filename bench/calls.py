"""Python calls per recipient of a broadcast: ``python -m bench.calls [--clients N]``.

Deterministic (no timing): connects N raw WebSocket clients to a Server in this process, then
counts with ``sys.setprofile`` the Python-level function calls made by one ``io.emit`` (every
socket receives it) in two situations of the write batch:

- ``through``: one broadcast after a quiet spell; each connection's frame is written at once;
- ``burst``: the third of three broadcasts in one loop iteration; frames wait for the flush.

Prints the calls per recipient (total, and those into roomcast's own code; the rest are
asyncio's transport and websockets), with the busiest functions. C calls (``dict.get``,
``len``) are counted apart.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from types import FrameType
from typing import Any

from roomcast.socketio.server import Server

UPGRADE = (
    "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n"
)
CONNECT = bytes((0x81, 0x82, 0, 0, 0, 0)) + b"40"  # a masked "40" (zero mask)


class Calls:
    """Python and C calls made while active, by function."""

    def __init__(self) -> None:
        self.python: Counter[str] = Counter()
        self.roomcast = 0
        self.c: Counter[str] = Counter()

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            code = frame.f_code
            path = code.co_filename
            self.python[f"{path.rsplit('/', 1)[-1]}:{code.co_qualname}"] += 1
            if "/roomcast/" in path:
                self.roomcast += 1
        elif event == "c_call":
            self.c[getattr(arg, "__qualname__", str(arg))] += 1


async def connect(io: Server, count: int) -> list[asyncio.StreamWriter]:
    writers = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", io.listener.port)
        writer.write(UPGRADE.encode())
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        writer.write(CONNECT)
        await asyncio.wait_for(reader.readuntil(b"40{"), 10)  # the socket is connected
        writers.append(writer)
        # the clients never read again: the bytes sent to them pile up in the kernel buffers
    assert len(io.of("/").sockets) == count
    return writers


def emit(io: Server) -> None:
    io.emit("tick", {"n": 1})


def count_emit(io: Server) -> Calls:
    """The calls of one broadcast."""
    calls = Calls()
    sys.setprofile(calls)
    try:
        emit(io)
    finally:
        sys.setprofile(None)
    return calls


def count_burst(io: Server) -> Calls:
    """The calls of the third of three broadcasts in one loop iteration (every connection's
    frames are then waiting for the batch's flush, whatever the batch's mode)."""
    emit(io)
    emit(io)
    return count_emit(io)


async def measure(clients: int) -> dict[str, Calls]:
    io = Server()
    await io.listen("127.0.0.1", 0)
    try:
        writers = await connect(io, clients)
        results: dict[str, Calls] = {}
        for _ in range(3):  # settle the batch's mode: a quiet iteration, one message each
            emit(io)
            await asyncio.sleep(0.05)
        results["through"] = count_emit(io)
        await asyncio.sleep(0.05)
        results["burst"] = count_burst(io)
        for writer in writers:
            writer.close()
        return results
    finally:
        await io.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    n = args.clients
    results = asyncio.run(measure(n))
    for case, calls in results.items():
        total = sum(calls.python.values())
        print(
            f"{case}: {total / n:.2f} Python calls per recipient "
            f"({calls.roomcast / n:.2f} in roomcast's code), "
            f"{sum(calls.c.values()) / n:.2f} C calls"
        )
        for name, count in calls.python.most_common(args.top):
            print(f"  {count / n:6.2f}  {name}")
        for name, count in calls.c.most_common(4):
            print(f"  {count / n:6.2f}  C {name}")


if __name__ == "__main__":
    main()
