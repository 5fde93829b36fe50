"""JSON nested past MAX_DEPTH is a parse error: that connection closes, once, quietly."""

from __future__ import annotations

import asyncio
import logging

import pytest
import socketio
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from roomcast.protocol.jsoncodec import MAX_DEPTH
from roomcast.socketio.server import Server

from .conftest import WAIT, url_of


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 900, 100_000])
async def test_deep_nesting_closes_only_that_connection_with_one_log_line(
    io: Server, caplog: pytest.LogCaptureFixture, depth: int
) -> None:
    io.on("echo", lambda socket, value: value)
    reasons: asyncio.Queue[str] = asyncio.Queue()
    io.on("disconnect", lambda socket, reason: reasons.put_nowait(reason))
    bystander = socketio.AsyncClient(reconnection=False)
    await bystander.connect(url_of(io), wait_timeout=WAIT)
    try:
        caplog.set_level(logging.INFO, logger="roomcast")  # the default level of `serve`
        ws = await ws_connect(
            f"ws://127.0.0.1:{io.listener.port}/socket.io/?EIO=4&transport=websocket"
        )
        assert str(await asyncio.wait_for(ws.recv(), WAIT)).startswith("0{")
        await ws.send("40")
        assert str(await asyncio.wait_for(ws.recv(), WAIT)).startswith('40{"sid":')
        await ws.send(f'421["echo",{nested(depth)}]')
        with pytest.raises(ConnectionClosed):  # closed, and no ack first
            await asyncio.wait_for(ws.recv(), WAIT)
        assert await asyncio.wait_for(reasons.get(), WAIT) == "forced close"

        # The bystander is served, deep but allowed nesting included.
        allowed = [[[["deep"]]]]
        assert await bystander.call("echo", allowed, timeout=WAIT) == allowed
    finally:
        await bystander.disconnect()
    told = [r for r in caplog.records if "nested" in r.getMessage()]
    assert len(told) == 1, [r.getMessage() for r in caplog.records]
    assert f"more than {MAX_DEPTH}" in told[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info], "no traceback"


async def test_nesting_up_to_the_limit_is_echoed(io: Server) -> None:
    io.on("echo", lambda socket, value: value)
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(url_of(io), wait_timeout=WAIT)
    try:
        value: list[object] = []
        for _ in range(MAX_DEPTH - 2):  # the event's array and the ack's are levels too
            value = [value]
        assert await client.call("echo", value, timeout=WAIT) == value
    finally:
        await client.disconnect()


@pytest.mark.parametrize("handler", ["sync", "async"])
async def test_a_handler_answer_too_deep_to_encode_is_logged_once_not_raised(
    io: Server, caplog: pytest.LogCaptureFixture, handler: str
) -> None:
    """The client's data is fine, the handler's answer cannot be encoded: one warning, no
    traceback, the ack stays unanswered and the connection goes on."""

    def deep() -> list[object]:
        value: list[object] = []
        for _ in range(5000):
            value = [value]
        return value

    async def async_deep(socket: object) -> list[object]:
        return deep()

    io.on("deep", (lambda socket: deep()) if handler == "sync" else async_deep)
    io.on("echo", lambda socket, value: value)
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(url_of(io), wait_timeout=WAIT)
    try:
        caplog.set_level(logging.INFO, logger="roomcast")
        with pytest.raises(socketio.exceptions.TimeoutError):
            await client.call("deep", timeout=0.5)
        assert await client.call("echo", "still here", timeout=WAIT) == "still here"
        records = [r for r in caplog.records if "cannot be sent" in r.getMessage()]
        assert len(records) == 1 and records[0].exc_info is None
        assert not any(r.exc_info for r in caplog.records)
    finally:
        await client.disconnect()
