"""`python -m roomcast serve` as a real process: it serves the chat and stops cleanly on signals."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import jwt
import pytest
import socketio
from websockets.asyncio.client import connect as ws_connect

from tests.certs import self_signed
from tests.conftest import ROOT

from .conftest import WAIT, ChatClient
from .tokens import SECRET, user_token

Starter = Callable[..., Awaitable[asyncio.subprocess.Process]]
START = 20.0  # seconds for a cold interpreter to import everything and listen


async def read_line(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), START)
    assert line, "the server exited before saying where it listens"
    return line.decode().rstrip("\n")


@pytest.fixture
async def serve(port: int) -> AsyncIterator[Starter]:
    """Start `python -m roomcast serve --port PORT *args`; killed at the end if still running."""
    started: list[asyncio.subprocess.Process] = []

    async def start(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
        environment = {k: v for k, v in os.environ.items() if k != "ROOMCAST_JWT_SECRET"}
        environment.update(env or {})
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "roomcast", "serve", "--port", str(port), *args,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=environment,
        )  # fmt: skip
        started.append(process)
        return process

    yield start
    for process in started:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def chat_and_stop(
    process: asyncio.subprocess.Process,
    tokens: list[str],
    url: str,
    clients: Callable[[], ChatClient],
    node: str,
    signum: int,
) -> str:
    """Two clients chat through the server, then ``signum`` stops it: return its log."""
    ann, bob = clients(), clients()
    await ann.connect(url, tokens[0], transports=["polling"])
    await bob.connect(url, tokens[1])
    for client in (ann, bob):
        assert await client.call("join", "lobby") == {"status": "ok"}
    assert await ann.call("message", {"message": "hi", "roomName": "lobby"}) == {"status": "ok"}
    assert (await bob.next_message())["message"] == "hi"
    official = await asyncio.create_subprocess_exec(
        node, str(Path(__file__).with_name("node_client.js")), url, tokens[0],
        stdout=subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    try:
        assert official.stdout is not None
        assert await asyncio.wait_for(official.stdout.readline(), START) == b"connected\n"

        async with httpx.AsyncClient(base_url=url) as http:
            page = await http.get("/")
            assert page.status_code == 200 and "/socket.io/socket.io.js" in page.text
            script = await http.get("/socket.io/socket.io.js")
            assert script.status_code == 200 and "javascript" in script.headers["content-type"]

        process.send_signal(signum)
        # Every client is told (a close packet on polling, a WebSocket close frame: not a
        # reset), and the process exits with 0.
        assert await asyncio.wait_for(ann.disconnects.get(), WAIT) == ("server disconnect",)
        await asyncio.wait_for(bob.disconnects.get(), WAIT)
        closed = json.loads(await asyncio.wait_for(official.stdout.readline(), WAIT))
        assert closed["reason"] == "transport close" and closed["code"] != 1006
        assert await asyncio.wait_for(official.wait(), WAIT) == 0
    finally:
        if official.returncode is None:
            official.kill()
            await official.wait()
    assert await asyncio.wait_for(process.wait(), WAIT * 2) == 0
    assert process.stderr is not None
    return (await process.stderr.read()).decode()


async def test_serve_without_secret_prints_ready_tokens_and_stops_on_sigterm(
    serve: Starter,
    clients: Callable[[], ChatClient],
    node: str,
    port: int,
) -> None:
    process = await serve()
    first = await read_line(process)
    assert first == f"roomcast listening on http://127.0.0.1:{port}/"
    assert "random" in await read_line(process)
    urls = [await read_line(process), await read_line(process)]
    tokens = [line.split("#token=", 1)[1] for line in urls]
    log = await chat_and_stop(
        process, tokens, f"http://127.0.0.1:{port}", clients, node, signal.SIGTERM
    )
    assert "user 1 (Ann) connected" in log
    assert tokens[0] not in log
    assert "event loop: uvloop" in log  # the test set-up installs the fast extra
    # websockets' own lines for every WebSocket opened and closed stay below the default level.
    assert "connection open" not in log and "connection closed" not in log


async def test_serve_with_secret_from_environment_stops_on_sigint(
    serve: Starter,
    clients: Callable[[], ChatClient],
    node: str,
    port: int,
) -> None:
    process = await serve("--log-level", "warning", env={"ROOMCAST_JWT_SECRET": SECRET})
    assert (await read_line(process)).startswith("roomcast listening on http://")
    tokens = [user_token("1", "Ann"), user_token("2", "Bob")]
    log = await chat_and_stop(
        process, tokens, f"http://127.0.0.1:{port}", clients, node, signal.SIGINT
    )
    assert "connected" not in log  # info is below --log-level warning


async def test_serve_runs_an_app_given_as_module_attribute(
    serve: Starter, clients: Callable[[], ChatClient], port: int
) -> None:
    process = await serve(
        "tests.chat.example_app:io",
        "--loop",
        "asyncio",
        "--gc-threshold",
        "0",
        "--gc-full-every",
        "0",
        env={"ROOMCAST_JWT_SECRET": SECRET},
    )
    assert (await read_line(process)) == f"roomcast listening on http://127.0.0.1:{port}/"
    client = clients()
    hello: asyncio.Queue[str] = asyncio.Queue()
    client.sio.on("hello", hello.put_nowait)
    await client.connect(f"http://127.0.0.1:{port}", user_token("1", "Ann"))
    assert await asyncio.wait_for(hello.get(), WAIT) == "welcome, Ann"
    assert await client.call("shout", "hi") == "HI"
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), WAIT * 2) == 0
    assert process.stderr is not None
    log = (await process.stderr.read()).decode()
    assert "connected" in log
    assert "event loop: asyncio" in log


async def test_serve_over_tls_behind_a_trusted_proxy(
    serve: Starter, port: int, tmp_path: Path
) -> None:
    certfile, keyfile = self_signed(tmp_path)
    process = await serve(
        "tests.chat.example_app:io",
        "--ssl-certfile", certfile, "--ssl-keyfile", keyfile,
        "--forwarded-allow-ips", "127.0.0.1",
        env={"ROOMCAST_JWT_SECRET": SECRET},
    )  # fmt: skip
    assert (await read_line(process)) == f"roomcast listening on https://127.0.0.1:{port}/"
    for transports in (["polling"], ["websocket"]):
        client = socketio.AsyncClient(ssl_verify=False)  # the Node test checks the certificate
        await client.connect(
            f"https://127.0.0.1:{port}",
            auth={"token": user_token("1", "Ann")},
            headers={"X-Forwarded-For": "203.0.113.7"},
            transports=transports,
            wait_timeout=WAIT,
        )
        assert await client.call("shout", "hi", timeout=WAIT) == "HI"
        await client.disconnect()
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), WAIT * 2) == 0
    assert process.stderr is not None
    log = (await process.stderr.read()).decode()
    assert log.count("connected from 203.0.113.7") == 2, log


@pytest.mark.parametrize("allow", [False, True], ids=["default", "no-require-expiry"])
async def test_serve_refuses_tokens_that_never_expire_unless_told(
    serve: Starter, clients: Callable[[], ChatClient], port: int, allow: bool
) -> None:
    flags = ["--no-require-expiry"] if allow else []
    process = await serve(*flags, env={"ROOMCAST_JWT_SECRET": SECRET})
    assert (await read_line(process)).startswith("roomcast listening on http://")
    forever = jwt.encode({"id": "1", "name": "Ann"}, SECRET, algorithm="HS256")
    url = f"http://127.0.0.1:{port}"
    if allow:
        client = clients()
        await client.connect(url, forever)
        assert await client.call("join", "lobby") == {"status": "ok"}
    else:
        assert await clients().refusal(url, forever) == "jwt has no exp"
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), WAIT * 2) == 0


SHUTDOWN = 5.0
"""Seconds the tests below give the server to exit: half its 10 s shutdown timeout."""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_shutdown_closes_a_polling_session_without_pending_get_at_once(
    serve: Starter, port: int, signum: int
) -> None:
    """No GET waits, so the client cannot be told: nothing to wait for (as Node's close())."""
    process = await serve("--log-level", "warning", env={"ROOMCAST_JWT_SECRET": SECRET})
    assert (await read_line(process)).startswith("roomcast listening on http://")
    url = f"http://127.0.0.1:{port}/socket.io/"
    async with httpx.AsyncClient(timeout=WAIT) as http:
        opened = await http.get(url, params={"EIO": "4", "transport": "polling"})
        sid = json.loads(opened.text[1:])["sid"]
        params = {"EIO": "4", "transport": "polling", "sid": sid}
        token = user_token("1", "Ann")
        connect = await http.post(url, params=params, content="40" + json.dumps({"token": token}))
        assert connect.text == "ok"
    process.send_signal(signum)
    assert await asyncio.wait_for(process.wait(), SHUTDOWN) == 0
    assert process.stderr is not None
    assert "Traceback" not in (await process.stderr.read()).decode()


async def test_a_second_sigint_during_the_shutdown_wait_exits_at_once(
    serve: Starter, port: int
) -> None:
    """A client between its upgrade probe and "5" holds the shutdown (up to 10 s); a second
    Ctrl-C ends it at once, with no traceback."""
    process = await serve(env={"ROOMCAST_JWT_SECRET": SECRET})
    assert (await read_line(process)).startswith("roomcast listening on http://")
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
        assert process.stderr is not None
        log = b""
        while b"shutting down" not in log:  # the first SIGINT was handled: the wait is on
            line = await asyncio.wait_for(process.stderr.readline(), WAIT)
            assert line, log
            log += line
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), SHUTDOWN) == 130  # 128 + SIGINT
    assert "Traceback" not in (log + await process.stderr.read()).decode()


async def test_serve_with_the_msgpack_parser(
    serve: Starter, clients: Callable[[], ChatClient], port: int
) -> None:
    process = await serve("--parser", "msgpack", env={"ROOMCAST_JWT_SECRET": SECRET})
    assert (await read_line(process)).startswith("roomcast listening on http://")
    url = f"http://127.0.0.1:{port}"
    ann, bob = clients(), clients()
    for client in (ann, bob):
        client.sio = socketio.AsyncClient(reconnection=False, serializer="msgpack")
        # the chat recovers connections: each message carries its offset last
        client.sio.on("message", lambda payload, *offset, c=client: c.messages.put_nowait(payload))
    await ann.connect(url, user_token("1", "Ann"), transports=["polling"])
    await bob.connect(url, user_token("2", "Bob"), transports=["websocket"])
    for client in (ann, bob):
        assert await client.call("join", "lobby") == {"status": "ok"}
    assert await ann.call("message", {"message": "hi", "roomName": "lobby"}) == {"status": "ok"}
    assert (await bob.next_message())["message"] == "hi"
    # a JSON client gets no answer it can read: the server closes its connection
    plain = clients()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await plain.connect(url, user_token("3", "Cy"), transports=["websocket"])
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), WAIT * 2) == 0
