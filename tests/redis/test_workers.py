"""``roomcast serve --workers 2``: two processes on one port sharing rooms through Redis, polling
sessions kept on the process that owns them."""

from __future__ import annotations

import asyncio
import json
import pathlib
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import connect as ws_connect

from roomcast.cluster.forward import (
    FORWARDED_HEADER,
    RELEASE_HEADER,
    ForwardingListener,
    reuse_port_socket,
)
from tests.conftest import ROOT
from tests.engine.conftest import PATH, EchoServer, poll_pending
from tests.socketio.conftest import PyClient

from .conftest import WAIT, RedisServer, until


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


async def http_exchange(sock: socket.socket, request: str) -> str:
    """Send ``request`` on ``sock`` and read one answer (it has a Content-Length): its body."""
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(sock, request.encode())
    data = b""
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < length(data):
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), WAIT)
        assert chunk, data
        data += chunk
    return data.partition(b"\r\n\r\n")[2].decode()


def length(data: bytes) -> int:
    for line in data.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


async def test_the_owner_answers_a_get_only_once_the_relayed_post_answer_is_out(
    tmp_path: pathlib.Path,
) -> None:
    """A single process writes a POST's "ok" before the answer it causes on the GET (an ack),
    and python-engineio's client relies on that: if the ack comes first and the app then calls
    disconnect(), its write loop, still waiting for the POST's answer, ends without sending
    the close packet, and the disconnect hangs until the ping timeout. So the owner of a
    session keeps its GET answers until the worker that relayed the POST says its answer is
    out. The test plays that worker on the owner's unix socket; the owner is an echo engine
    (the answer is ready while the POST is handled: the tightest case)."""
    path = str(tmp_path / "owner.sock")
    owner = EchoServer()
    owner.listener = ForwardingListener(reuse_port_socket("127.0.0.1", 0), path, [])
    owner.listener.mount(owner.engine)
    await owner.start()
    loop = asyncio.get_running_loop()
    get = socket.socket()
    get.setblocking(False)
    relay = socket.socket(socket.AF_UNIX)
    relay.setblocking(False)
    query = f"{PATH}?EIO=4&transport=polling"
    try:
        await loop.sock_connect(get, ("127.0.0.1", owner.port))
        opened = await http_exchange(get, f"GET {query} HTTP/1.1\r\nHost: x\r\n\r\n")
        sid = json.loads(opened[1:])["sid"]
        await loop.sock_sendall(get, f"GET {query}&sid={sid} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await until(poll_pending(owner, sid))
        await loop.sock_connect(relay, path)
        relayed = (
            f"POST {query}&sid={sid} HTTP/1.1\r\nHost: x\r\n{FORWARDED_HEADER}: 1\r\n"
            "Content-Length: 6\r\n\r\n4hello"
        )
        assert await http_exchange(relay, relayed) == "ok"
        # Loopback: an answer written to the GET's connection would be in its buffer now.
        with pytest.raises(BlockingIOError):
            get.recv(65536, socket.MSG_PEEK)  # the GET was answered before the POST's answer
        release = (
            f"POST {query}&sid={sid} HTTP/1.1\r\nHost: x\r\n{FORWARDED_HEADER}: 1\r\n"
            f"{RELEASE_HEADER}: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        await http_exchange(relay, release)
        assert await http_exchange(get, "") == "4hello"
    finally:
        get.close()
        relay.close()
        await owner.listener.close()


async def test_polling_disconnect_after_an_ack_through_the_workers(workers: str) -> None:
    """python-socketio's polling client: an ack, then disconnect(), on both workers."""
    for _ in range(6):  # some of these clients' POSTs are relayed by the other worker
        client = PyClient(["polling"])
        await client.connect(workers)
        await client.next_event("hello")
        assert await client.call("join", "r") == ["joined"]
        await asyncio.wait_for(client.disconnect(), WAIT)  # under the 20 s ping timeout


async def test_a_second_sigint_stops_the_workers_shutdown_wait(
    redis_server: RedisServer, port: int
) -> None:
    """A client between its upgrade probe and "5" holds a worker's shutdown (up to 10 s); a
    second SIGINT to the supervisor kills the workers at once: status 130, no traceback."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "roomcast", "serve", "tests.redis.worker_app:io",
        "--workers", "2", "--redis-url", redis_server.url, "--port", str(port),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    try:
        assert process.stdout is not None and process.stderr is not None
        line = (await asyncio.wait_for(process.stdout.readline(), WAIT)).decode()
        assert line.startswith("roomcast listening on")
        url = f"http://127.0.0.1:{port}/socket.io/"
        async with httpx.AsyncClient(timeout=WAIT) as http:
            opened = await http.get(url, params={"EIO": "4", "transport": "polling"})
            sid = json.loads(opened.text[1:])["sid"]
        async with ws_connect(
            f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket&sid={sid}"
        ) as ws:
            await ws.send("2probe")
            assert await asyncio.wait_for(ws.recv(), WAIT) == "3probe"
            process.send_signal(signal.SIGINT)
            log = b""
            while log.count(b"shutting down") < 2:  # both workers got the supervisor's SIGTERM
                line_bytes = await asyncio.wait_for(process.stderr.readline(), WAIT)
                assert line_bytes, log
                log += line_bytes
            process.send_signal(signal.SIGINT)
            assert await asyncio.wait_for(process.wait(), 5.0) == 130  # not the 10 s wait
        assert b"Traceback" not in log + await process.stderr.read()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_a_late_post_body_relayed_to_the_owner_closes_the_session_unread(
    tmp_path: pathlib.Path,
) -> None:
    """A POST whose body is late (``http_request_body_timeout``) on a worker that does not own
    the session: the owner closes the session as a single process does (``transport error``,
    ``"http request timeout"``), 408 to the client, and the partial body is never read as
    packets."""
    owner_path = str(tmp_path / "owner.sock")
    owner = EchoServer(http_request_body_timeout=0.1)
    owner.listener = ForwardingListener(reuse_port_socket("127.0.0.1", 0), owner_path, [])
    owner.listener.mount(owner.engine)
    await owner.start()
    relay = EchoServer(http_request_body_timeout=0.1)
    relay.listener = ForwardingListener(
        reuse_port_socket("127.0.0.1", 0), str(tmp_path / "relay.sock"), [owner_path]
    )
    relay.listener.mount(relay.engine)
    await relay.start()
    received: list[str | bytes] = []
    try:
        async with httpx.AsyncClient(timeout=WAIT) as http:
            opened = await http.get(owner.url, params={"EIO": "4", "transport": "polling"})
            sid = json.loads(opened.text[1:])["sid"]
            owner.sessions[sid].on_message = received.append
            reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
            writer.write(
                f"POST {PATH}?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n"
                "Content-Length: 10\r\n\r\n4ab".encode()
            )
            answer = await asyncio.wait_for(reader.read(), WAIT)
            writer.close()
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        closed = await asyncio.wait_for(owner.closed[sid], WAIT)
        assert closed == ("transport error", "http request timeout")
        assert received == []
    finally:
        await relay.listener.close()
        await owner.listener.close()


async def test_the_chat_page_is_served_by_workers(redis_server: RedisServer, port: int) -> None:
    """The chat's pages are routes of the app's listener: the workers' listeners serve them."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "roomcast",
        "serve",
        "--jwt-secret",
        "a-secret-for-the-workers-test-" + "x" * 20,
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
        assert line.startswith("roomcast listening on")
        async with httpx.AsyncClient(timeout=WAIT) as http:
            for _ in range(4):  # new connections: both workers answer some
                page = await http.get(f"http://127.0.0.1:{port}/", headers={"connection": "close"})
                assert page.status_code == 200 and "<html" in page.text.lower()
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), WAIT) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
