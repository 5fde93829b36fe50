"""The engine's differential scenarios (tests/engine/test_differential.py, Node's engine.io 6
side by side) against roomcast's ASGI mode under uvicorn: the same transcripts as Node, except
where listed in ``DIFFERENCES`` (each with why)."""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import AsyncIterator

import pytest
import uvicorn

from roomcast.asgi import ASGIApp
from tests.conftest import free_port
from tests.engine.conftest import PATH, EchoServer, start_node, stop_node
from tests.engine.test_differential import SCENARIOS, run

from .conftest import WAIT

DIFFERENCES: dict[str, str] = {
    "upgrade": "the server's close frames carry code 1000 where Node's carry none (1005): an "
    "ASGI websocket.close always has a code (1000 by default)",
    "close_during_upgrade": "the same: ASGI cannot send a close frame without a status code",
    "websocket_close_frames": "the same 1000 for the server's close; and uvicorn's WebSocket "
    "layer (websockets) puts its diagnosis in the reason of a protocol-error close "
    "('invalid opcode', 'incorrect masking'), where Node and roomcast's own front send the "
    "code alone: the ASGI server does the framing",
}
"""Scenario name -> why its transcript differs from Node's under ASGI."""


@pytest.fixture
async def asgi_echo() -> AsyncIterator[str]:
    """The engine tests' echo server, as ``ASGIApp(engine)`` under uvicorn (in this process,
    over real sockets); yields its Engine.IO URL."""
    echo = EchoServer()
    port = free_port()
    config = uvicorn.Config(
        ASGIApp(echo.engine, path=PATH),
        host="127.0.0.1",
        port=port,
        http="httptools",
        ws="websockets-sansio",
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.ensure_future(server.serve())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not server.started:
        assert not task.done() and loop.time() < deadline, "uvicorn did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}{PATH}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT)


async def test_same_transcripts_as_node_under_uvicorn(node: str, asgi_echo: str) -> None:
    theirs = await start_node(node)
    differ: dict[str, tuple[list[str], list[str]]] = {}
    try:
        for scenario in SCENARIOS:
            expected = await run(scenario, theirs.url)
            got = await run(scenario, asgi_echo)
            if got != expected:
                differ[scenario.__name__] = (expected, got)
    finally:
        await stop_node(theirs)
    report = "\n".join(
        f"== {name}\n" + "\n".join(difflib.unified_diff(expected, got, lineterm="", n=0))
        for name, (expected, got) in differ.items()
    )
    assert set(differ) == set(DIFFERENCES), report
