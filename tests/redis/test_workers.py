"""``roomcast serve --workers 2``: two processes on one port sharing rooms through Redis, polling
sessions kept on the process that owns them."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import ROOT
from tests.socketio.conftest import PyClient

from .conftest import WAIT, RedisServer


@pytest.fixture
async def workers(redis_server: RedisServer, port: int) -> AsyncIterator[str]:
    """The URL of ``roomcast serve tests.redis.worker_app:io --workers 2`` on ``port``."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "roomcast",
        "serve",
        "tests.redis.worker_app:io",
        "--workers",
        "2",
        "--redis-url",
        redis_server.url,
        "--port",
        str(port),
        "--log-level",
        "warning",
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), WAIT)).decode()
        assert line == f"roomcast listening on http://127.0.0.1:{port}/ (2 workers)\n"
        yield f"http://127.0.0.1:{port}"
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), WAIT) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_clients_on_both_workers_all_get_a_room_broadcast_once(workers: str) -> None:
    clients: list[PyClient] = []
    pids: dict[int, int] = {}
    try:
        # the kernel spreads connections over the workers: connect until both have clients
        while len(clients) < 6 or len(set(pids.values())) < 2:
            assert len(clients) < 40, "every connection went to the same worker"
            transports = ["websocket"] if len(clients) % 2 else ["polling", "websocket"]
            client = PyClient(transports)
            clients.append(client)
            await client.connect(workers)
            pids[len(clients) - 1] = (await client.next_event("hello"))[0]
            assert await client.call("join", "r") == ["joined"]
        assert await clients[0].call("count", "r") == [len(clients)]
        assert await clients[1].call("shout", "r", "news!") == ["sent"]
        assert await clients[1].call("shout", "r", "end") == ["sent"]
        for client in clients:
            assert await client.next_event("news") == ["news!"]
            assert await client.next_event() == ["end"]  # nothing in between: once
    finally:
        for client in clients:
            if client.sio.connected:
                await client.disconnect()


async def test_polling_requests_reach_the_owner_whichever_worker_accepts_them(
    workers: str,
) -> None:
    """Each request on a new TCP connection: about half land on the other worker."""
    url = f"{workers}/socket.io/?EIO=4&transport=polling"
    fresh = {"connection": "close"}
    async with httpx.AsyncClient(timeout=WAIT) as http:
        opened = await http.get(url, headers=fresh)
        sid = json.loads(opened.text[1:])["sid"]
        session = f"{url}&sid={sid}"
        assert (await http.post(session, content="40", headers=fresh)).text == "ok"
        received = ""
        for ack_id in range(10):
            packet = f'42{ack_id}["join","room{ack_id}"]'
            assert (await http.post(session, content=packet, headers=fresh)).text == "ok"
            while f'43{ack_id}["joined"]' not in received:
                answer = await http.get(session, headers=fresh)
                assert answer.status_code == 200, answer.text
                received += answer.text
        assert '42["hello",' in received
        assert (await http.post(session, content="1", headers=fresh)).text == "ok"  # close


async def test_workers_need_redis(port: int) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "roomcast",
        "serve",
        "--workers",
        "2",
        "--port",
        str(port),
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
    )
    _, err = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode == 2
    assert b"--workers 2 needs --redis-url" in err
