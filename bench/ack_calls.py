"""Python calls per answered event: ``python -m bench.ack_calls [--frames N]``.

Deterministic (no timing): one raw WebSocket client connects to a Server in this process with
an ``echo`` handler that returns its argument; a read of N masked frames ``42<id>["echo",..]``
(the ack-50 scenario's burst) is handed to the server's ``WebSocketTransport.data_received``
under ``sys.setprofile``, which counts every Python-level call from the frame to the answer's
bytes queued for the write batch. Prints the calls per answered event with the functions.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from websockets.frames import Frame, Opcode

from bench.calls import CONNECT, UPGRADE, Calls
from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket


def echo(socket: Socket, data: Any) -> Any:
    return data


def burst(frames: int) -> bytes:
    """``frames`` masked text frames asking ``echo`` with ack ids 0..frames-1, in one read."""
    return b"".join(
        Frame(Opcode.TEXT, b'42%d["echo",{"n":1}]' % i).serialize(mask=True, extensions=[])
        for i in range(frames)
    )


async def measure(frames: int) -> Calls:
    io = Server()
    io.on("echo", echo)
    await io.listen("127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", io.listener.port)
    try:
        writer.write(UPGRADE.encode())
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        writer.write(CONNECT)
        await asyncio.wait_for(reader.readuntil(b"40{"), 10)
        (socket,) = io.of("/").sockets.values()
        ws: Any = socket.client.session.transport
        read = burst(frames)
        ws.data_received(read)  # warm up (first-use caches), then wait for its last answer
        await asyncio.wait_for(reader.readuntil(b"43%d[" % (frames - 1)), 10)
        calls = Calls()
        sys.setprofile(calls)
        try:
            ws.data_received(read)
        finally:
            sys.setprofile(None)
        return calls
    finally:
        writer.close()
        await io.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=50)
    args = parser.parse_args()
    n = args.frames
    calls = asyncio.run(measure(n))
    print(
        f"{sum(calls.python.values()) / n:.2f} Python calls per answered event "
        f"({calls.roomcast / n:.2f} in roomcast's code), {sum(calls.c.values()) / n:.2f} C calls"
    )
    for name, count in calls.python.most_common(40):
        print(f"  {count / n:6.2f}  {name}")


if __name__ == "__main__":
    main()
