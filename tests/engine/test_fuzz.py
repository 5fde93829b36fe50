"""Random client input never raises inside the server: no error is logged, other clients work."""

from __future__ import annotations

import asyncio
import logging
import random

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidMessage
from websockets.frames import Frame, Opcode

from .conftest import TIMEOUT, EchoServer, handshake, open_data, polling, recv, ws_connect

SEED = 20261128


def random_bytes(rng: random.Random, size: int) -> bytes:
    alphabet = b"0123456b4\x1e\r\n :/?=&GETPOSTHTTP/1.1\x00\xff\x80websocketsidEIO"
    return bytes(rng.choice(alphabet) for _ in range(size))


def no_errors(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


async def test_random_http_bytes(server: EchoServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    rng = random.Random(SEED)
    prefixes = [b"", b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\n", b"POST /engine.io/"]
    for _ in range(60):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(rng.choice(prefixes) + random_bytes(rng, rng.randrange(1, 300)) + b"\r\n\r\n")
        writer.write_eof()
        await asyncio.wait_for(reader.read(), TIMEOUT)
        writer.close()
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        await handshake(http, server.url)
    no_errors(caplog)


async def test_random_payloads(server: EchoServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    rng = random.Random(SEED + 1)
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        for _ in range(40):
            sid = await handshake(http, server.url)
            body = random_bytes(rng, rng.randrange(0, 200))
            response = await http.post(server.url, params=polling(sid), content=body)
            assert response.status_code in (200, 400)
    no_errors(caplog)


async def test_random_websocket_frames(
    server: EchoServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    rng = random.Random(SEED + 2)
    for _ in range(30):
        ws = await ws_connect(server.url)
        open_data(str(await recv(ws)))
        if rng.random() < 0.5:
            raw = random_bytes(rng, rng.randrange(1, 100))
            ws.transport.write(raw)
        else:
            opcode = rng.choice([Opcode.TEXT, Opcode.BINARY])
            data = random_bytes(rng, rng.randrange(0, 100))
            ws.transport.write(Frame(opcode, data).serialize(mask=True))
        await ws.send("4ping")
        try:
            while await recv(ws) != "4ping":
                pass
        except ConnectionClosed:
            pass
        await ws.close()
    bystander = await ws_connect(server.url)
    open_data(str(await recv(bystander)))
    await bystander.send("4ok")
    assert await recv(bystander) == "4ok"
    await bystander.close()
    no_errors(caplog)


async def test_random_upgrade_requests(
    server: EchoServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    rng = random.Random(SEED + 3)
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        sid = await handshake(http, server.url)
    for _ in range(30):
        params = {
            key: rng.choice(["4", "3", "websocket", "polling", sid, "", "x"])
            for key in rng.sample(["EIO", "transport", "sid"], rng.randrange(0, 4))
        }
        try:
            ws = await ws_connect(server.url, **params)
        except (InvalidHandshake, InvalidMessage):
            continue
        try:
            for _ in range(rng.randrange(1, 4)):
                await ws.send(rng.choice(["2probe", "5", "4x", "x", "3", "1"]))
        except ConnectionClosed:
            pass
        await ws.close()
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        await http.post(server.url, params=polling(sid), content="4still polling?")
    no_errors(caplog)
