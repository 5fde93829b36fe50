"""``roomcast serve --redis-streams-url`` (or a ``redis+streams://`` ``--redis-url``) shares rooms
through the Redis stream of Node's @socket.io/redis-streams-adapter."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from roomcast.cli import redis_choice
from tests.conftest import ROOT
from tests.socketio.conftest import PyClient
from tests.waiting import until_async

from .conftest import WAIT, RedisServer


def test_the_options_pick_the_adapter() -> None:
    assert redis_choice(None, None) == ("", "")
    assert redis_choice("redis://h:1/0", None) == ("pubsub", "redis://h:1/0")
    assert redis_choice(None, "redis://h:1/0") == ("streams", "redis://h:1/0")
    assert redis_choice("redis+streams://h:1/0", None) == ("streams", "redis://h:1/0")
    assert redis_choice("rediss+streams://u:p@h/2", None) == ("streams", "rediss://u:p@h/2")


async def test_both_options_are_refused(redis_server: RedisServer) -> None:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "roomcast", "serve", "--port", "0"),
        *("--redis-url", redis_server.url, "--redis-streams-url", redis_server.url),
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode == 2
    assert b"give --redis-url or --redis-streams-url, not both" in stderr


@pytest.fixture(params=["--redis-streams-url", "--redis-url"])
async def served(
    request: pytest.FixtureRequest, redis_server: RedisServer, port: int
) -> AsyncIterator[str]:
    """``roomcast serve tests.redis.worker_app:io`` with the streams adapter, on ``port``."""
    url = redis_server.url
    if request.param == "--redis-url":
        url = url.replace("redis://", "redis+streams://")
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "roomcast", "serve", "tests.redis.worker_app:io"),
        *(request.param, url, "--port", str(port), "--log-level", "warning"),
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), WAIT)).decode()
        assert line.startswith("roomcast listening on")
        yield f"http://127.0.0.1:{port}"
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), WAIT) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_serve_broadcasts_through_the_stream(served: str, redis_server: RedisServer) -> None:
    client = redis.asyncio.Redis.from_url(redis_server.url)
    sio = PyClient(["websocket"])
    try:
        start = await client.xrevrange("socket.io", "+", "-", count=1)
        after = start[0][0].decode() if start else "0-0"
        await sio.connect(served)
        assert await sio.call("join", "r") == ["joined"]
        assert await sio.call("shout", "r", "news!") == ["sent"]
        assert await sio.next_event("news") == ["news!"]
        entries = await until_async(
            lambda: client.xrange("socket.io", f"({after}", "+"), lambda entries: entries
        )
        fields = entries[-1][1]
        assert fields[b"nsp"] == b"/" and fields[b"type"] == b"3"
        assert b'"news!"' in fields[b"data"]
    finally:
        await sio.disconnect()
        await client.aclose()
