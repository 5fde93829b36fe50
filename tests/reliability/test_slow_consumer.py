"""A client that stops reading is cut off; everyone else gets every broadcast, in order."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket

from .conftest import WAIT, NodeClients, no_leftovers, peak_rss, reset_peak_rss, rss

READERS = 100
MESSAGES = 20_000
PAD = "x" * 200
"""Each broadcast is ~215 bytes: 4.3 MB owed to the slow client if nothing cut it off."""
WINDOW = 500
"""Broadcasts in flight ahead of the slowest reader (the producer's own flow control)."""
HIGH_WATER = 32 << 10
HARD_LIMIT = 128 << 10
RSS_BOUND = 64 << 20
"""The server process may grow by at most this much while it sends the 2,000,000 messages."""


async def test_slow_consumer_cut_off_others_get_everything(
    port: int, node: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="roomcast.engine")
    # A polite close would wait this long for the slow client: only an abort ends it promptly.
    io = Server(
        write_buffer_high_water=HIGH_WATER,
        max_write_buffer=HARD_LIMIT,
        websocket_close_timeout=3600,
    )
    progress: dict[str, int] = {}
    changed = asyncio.Event()
    reasons: dict[str, str] = {}

    @io.on("connection")
    def connected(socket: Socket) -> None:
        if not socket.handshake.auth.get("slow"):
            progress[socket.id] = 0

    @io.on("progress")
    def on_progress(socket: Socket, count: int) -> None:
        progress[socket.id] = count
        changed.set()

    @io.on("disconnect")
    def disconnected(socket: Socket, reason: str) -> None:
        reasons["slow" if socket.handshake.auth.get("slow") else socket.id] = reason

    async def readers_past(count: int) -> None:
        while min(progress.values()) < count:
            changed.clear()
            await asyncio.wait_for(changed.wait(), WAIT)

    await io.listen("127.0.0.1", port)
    clients = await NodeClients.start(
        node, mode="fanout", url=f"http://127.0.0.1:{port}", clients=READERS, every=100
    )
    try:
        assert await clients.result() == {"ready": READERS + 1}
        start = rss()
        reset_peak_rss()
        for seq in range(MESSAGES):
            if seq % 100 == 0 and seq >= WINDOW:
                await readers_past(seq - WINDOW)
            io.emit("m", seq, PAD)
            if seq % 100 == 99:
                await asyncio.sleep(0)  # let the write batch go out
        io.emit("end", MESSAGES)
        result: dict[str, Any] = await clients.result(timeout=60)
        growth = peak_rss() - start
    finally:
        await clients.stop()

    assert result["counts"] == [MESSAGES] * READERS
    assert result["ordered"]
    assert result["totals"] == [MESSAGES] * READERS
    # the slow client got what the kernel buffers held, then its connection was dropped: no
    # close frame queued behind the full buffer (1005), an abnormal closure (1006)
    assert result["slow"]["count"] < MESSAGES
    assert result["slow"]["end"] == {"packet": None, "code": 1006}
    assert reasons["slow"] == "transport error"
    cut_off = [r.getMessage() for r in caplog.records if "write buffer full" in r.getMessage()]
    assert len(cut_off) == 1, cut_off  # logged once
    assert growth < RSS_BOUND, f"server grew by {growth / 2**20:.1f} MiB"
    await no_leftovers(io)
    assert set(reasons) - {"slow"} == set(progress)
    await io.close()


async def test_server_budget_cuts_off_the_stalled_reader_only(
    port: int, node: str, caplog: pytest.LogCaptureFixture
) -> None:
    # 1 stalled reader among 50, 5,000 broadcasts of 2 KB: 10 MB owed to each. The per-
    # connection limit is out of the way; the server-wide budget alone must cut the stalled one
    # (the largest backlog) and nobody else.
    caplog.set_level(logging.INFO, logger="roomcast.engine")
    readers, messages, window = 49, 5_000, 100
    io = Server(
        max_write_buffer=64 << 20, max_write_buffer_total=4 << 20, websocket_close_timeout=3600
    )
    progress: dict[str, int] = {}
    changed = asyncio.Event()
    reasons: dict[str, str] = {}

    @io.on("connection")
    def connected(socket: Socket) -> None:
        if not socket.handshake.auth.get("slow"):
            progress[socket.id] = 0

    @io.on("progress")
    def on_progress(socket: Socket, count: int) -> None:
        progress[socket.id] = count
        changed.set()

    @io.on("disconnect")
    def disconnected(socket: Socket, reason: str) -> None:
        reasons["slow" if socket.handshake.auth.get("slow") else socket.id] = reason

    await io.listen("127.0.0.1", port)
    clients = await NodeClients.start(
        node, mode="fanout", url=f"http://127.0.0.1:{port}", clients=readers, every=100
    )
    pad = "x" * 2000
    try:
        assert await clients.result() == {"ready": readers + 1}
        for seq in range(messages):
            if seq % 100 == 0 and seq >= window:
                while min(progress.values()) < seq - window:
                    changed.clear()
                    await asyncio.wait_for(changed.wait(), WAIT)
            io.emit("m", seq, pad)
            if seq % 10 == 9:
                await asyncio.sleep(0)  # let the write batch go out
        io.emit("end", messages)
        result: dict[str, Any] = await clients.result(timeout=60)
    finally:
        await clients.stop()
    assert result["counts"] == [messages] * readers
    assert result["ordered"]
    assert result["slow"]["count"] < messages
    assert result["slow"]["end"] == {"packet": None, "code": 1006}
    assert reasons["slow"] == "transport error"
    cut_off = [r.getMessage() for r in caplog.records if "write buffer full" in r.getMessage()]
    assert len(cut_off) == 1, cut_off
    await no_leftovers(io)
    await io.close()
