"""`/metrics` scraped with prometheus_client's own parser during a chat session: the numbers
are those of what the clients did."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import socketio
from prometheus_client.parser import text_string_to_metric_families

from roomcast.apps.chat import create_app
from roomcast.metrics import METRICS, Metrics
from roomcast.socketio.server import Server
from tests.chat.conftest import ChatClient
from tests.chat.tokens import SECRET, user_token
from tests.conftest import ROOT
from tests.waiting import until, until_async

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(url: str) -> Samples:
    """Every sample of ``url``/metrics, by (name, sorted labels)."""
    async with httpx.AsyncClient() as http:
        response = await http.get(url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
async def chat(port: int) -> AsyncIterator[str]:
    io = create_app(jwt_secret=SECRET)
    Metrics(io).route()
    await io.listen("127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await io.close()


async def test_scrape_counts_what_the_chat_session_did(
    chat: str, clients: Callable[[], ChatClient]
) -> None:
    before = await scrape(chat)
    assert value(before, "roomcast_handshakes_total") == 0
    assert value(before, "roomcast_namespaces") == 1
    ann, bob, cat, eve = clients(), clients(), clients(), clients()
    await ann.connect(chat, user_token("1", "Ann"), transports=["polling"])
    await bob.connect(chat, user_token("2", "Bob"), transports=["websocket"])
    await cat.connect(chat, user_token("3", "Cat"), transports=["websocket"])
    assert await eve.refusal(chat, user_token("4", "Eve", secret="not-the-secret" * 4)) != ""
    for client in (ann, bob, cat):
        assert await client.call("join", "lobby") == {"status": "ok"}
    assert await bob.call("join", "kitchen") == {"status": "ok"}
    for text in ("one", "two", "three"):
        assert await ann.call("message", {"message": text, "roomName": "lobby"}) == {"status": "ok"}
    for client in (bob, cat):
        for text in ("one", "two", "three"):
            assert (await client.next_message())["message"] == text
    await cat.sio.disconnect()

    def settled(samples: Samples) -> bool:
        return value(samples, "roomcast_sockets", namespace="/") == 2

    await until_async(lambda: scrape(chat), settled)
    after = await scrape(chat)
    assert value(after, "roomcast_connections", transport="polling") == 1
    assert value(after, "roomcast_connections", transport="websocket") == 1
    assert value(after, "roomcast_handshakes_total") == 4  # the refused token had a session
    assert value(after, "roomcast_namespace_connects_total", namespace="/") == 3
    refused = value(after, "roomcast_namespace_refusals_total", namespace="/", reason="middleware")
    assert refused == 1
    assert value(after, "roomcast_disconnections_total", reason="transport close") >= 1
    # Ann's and Bob's user rooms, lobby and kitchen (Cat's user room went with Cat)
    assert value(after, "roomcast_rooms", namespace="/") == 4
    # the chat has connection state recovery on: its 3 "welcome" emits go through the adapter
    # (so that they get an offset, as in Node) and count as broadcasts to one socket each
    assert value(after, "roomcast_broadcasts_total", namespace="/") == 3 + 3
    assert value(after, "roomcast_broadcast_recipients_total", namespace="/") == 6 + 3
    # received: 3 CONNECTs + Eve's, 4 joins, 3 messages (at least: Cat's DISCONNECT too)
    assert value(after, "roomcast_messages_received_total") >= 3 + 1 + 4 + 3
    # sent: 3 CONNECT answers, Eve's CONNECT_ERROR, 7 acks, 3 welcomes, 6 broadcast deliveries
    assert value(after, "roomcast_messages_sent_total") == 3 + 1 + 7 + 3 + 6
    assert value(after, "roomcast_sent_bytes_total") > 6 * len('42["message",{"message":"one"')
    assert value(after, "roomcast_volatile_dropped_total") == 0
    assert value(after, "roomcast_slow_consumers_aborted_total") == 0
    assert value(after, "roomcast_event_loop_lag_seconds") >= 0
    async with httpx.AsyncClient() as http:
        text = (await http.get(chat + "/metrics")).text
    for name in METRICS:
        assert f"# HELP {name}" in text


async def test_volatile_drops_and_ack_timeouts_are_counted(port: int) -> None:
    io = Server()
    metrics = Metrics(io)
    metrics.route()
    outcome: asyncio.Queue[Any] = asyncio.Queue()

    @io.on("go")
    async def go(socket: Any) -> None:
        # the first volatile packet answers the client's pending GET (if one is pending); the
        # others find no GET to answer and are dropped
        for _ in range(5):
            socket.volatile.emit("tick")
        try:
            await socket.timeout(0.2).emit_with_ack("never-answered")
        except Exception as exc:
            outcome.put_nowait(type(exc).__name__)

    url = f"http://127.0.0.1:{port}"
    async with io.serve("127.0.0.1", port):
        client = socketio.AsyncClient(reconnection=False)
        never = asyncio.Event()

        @client.on("never-answered")
        async def hold() -> None:  # python-socketio acks once its handler returns: never
            await never.wait()

        await client.connect(url, transports=["polling"])
        try:
            await client.emit("go")
            assert await asyncio.wait_for(outcome.get(), 10) == "AckTimeoutError"
            samples = await scrape(url)
        finally:
            never.set()
            await client.disconnect()
    assert value(samples, "roomcast_ack_timeouts_total", namespace="/") == 1
    assert value(samples, "roomcast_volatile_dropped_total") >= 4


async def test_serve_metrics_flag(port: int, clients: Callable[[], ChatClient]) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "roomcast", "serve", "--port", str(port), "--jwt-secret", SECRET,
        "--metrics", stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        assert line.startswith(b"roomcast listening on")
        url = f"http://127.0.0.1:{port}"
        ann = clients()
        await ann.connect(url, user_token("1", "Ann"), transports=["websocket"])
        samples = await scrape(url)
        assert value(samples, "roomcast_connections", transport="websocket") == 1
        assert value(samples, "roomcast_sockets", namespace="/") == 1
        assert ("roomcast_event_loop_lag_seconds", ()) in samples
    finally:
        process.terminate()
        await process.wait()


async def test_slow_consumer_and_refused_requests_are_counted(port: int) -> None:
    io = Server(max_write_buffer=20_000)
    Metrics(io).route()
    url = f"http://127.0.0.1:{port}"
    engine = url + "/socket.io/?EIO=4&transport=polling"
    async with io.serve("127.0.0.1", port), httpx.AsyncClient() as http:
        opened = await http.get(engine)
        sid = json.loads(opened.text[1:])["sid"]
        assert (await http.post(f"{engine}&sid={sid}", content="40")).text == "ok"
        await until(lambda: len(io.sockets.sockets) == 1)
        # the client never polls again: its queue grows past max_write_buffer
        for _ in range(30):
            io.emit("big", "x" * 1000)
        await until(lambda: not io.engine.sessions)
        refused = await http.get(url + "/socket.io/?EIO=4&transport=carrier-pigeon")
        assert refused.status_code == 400
        samples = await scrape(url)
    assert value(samples, "roomcast_slow_consumers_aborted_total") == 1
    assert value(samples, "roomcast_disconnections_total", reason="transport error") == 1
    assert value(samples, "roomcast_refused_requests_total", reason="Transport unknown") == 1
    assert value(samples, "roomcast_connections", transport="polling") == 0
