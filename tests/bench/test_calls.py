"""The broadcast fast path in Python calls (bench/calls.py): deterministic, no timing."""

from __future__ import annotations

from bench.calls import connect, count_burst, count_emit
from roomcast.socketio.server import Server

CLIENTS = 20


async def test_a_websocket_recipient_costs_one_python_call_in_a_burst() -> None:
    io = Server()
    await io.listen("127.0.0.1", 0)
    try:
        writers = await connect(io, CLIENTS)
        calls = count_burst(io)
        per_recipient = {name: n for name, n in calls.python.items() if n >= CLIENTS}
        assert per_recipient == {"websocket.py:WebSocketTransport.push": CLIENTS}
        for writer in writers:
            writer.close()
    finally:
        await io.close()


async def test_a_websocket_recipient_costs_one_call_of_roomcast_when_written_through() -> None:
    """After a quiet spell each recipient's frame is written at once: ``push`` does the batch's
    bookkeeping and the write itself (the rest is the event loop's transport)."""
    io = Server()
    await io.listen("127.0.0.1", 0)
    try:
        writers = await connect(io, CLIENTS)  # one answer per iteration: the batch writes through
        assert io.engine._write_batch._through
        calls = count_emit(io)
        ours = {
            name: n
            for name, n in calls.python.items()
            if n >= CLIENTS and name.startswith(("websocket.py", "session.py", "adapter.py"))
        }
        assert ours == {"websocket.py:WebSocketTransport.push": CLIENTS}
        assert calls.roomcast < CLIENTS + 30  # push per recipient, plus the one emit's own steps
        for writer in writers:
            writer.close()
    finally:
        await io.close()
