"""The relay's bounds, in one process: an owner that never answers, too many relays at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from roomcast.cluster.forward import (
    FORWARDED_HEADER,
    ForwardingListener,
    SidRouting,
    reuse_port_socket,
)
from tests.engine.conftest import EchoServer
from tests.waiting import WAIT

OWNER_NODE = "BBBBBBBB"
SID = OWNER_NODE + "A" + "x" * 24  # worker 0 of a node that is not this one


@dataclass
class Silent:
    """A server that takes requests and never answers them."""

    port: int
    received: asyncio.Queue[bytes]


@pytest.fixture
async def silent() -> AsyncIterator[Silent]:
    received: asyncio.Queue[bytes] = asyncio.Queue()
    writers: list[asyncio.StreamWriter] = []

    async def take(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        received.put_nowait(await reader.readuntil(b"\r\n\r\n"))

    server = await asyncio.start_server(take, "127.0.0.1", 0)
    try:
        yield Silent(server.sockets[0].getsockname()[1], received)
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


@pytest.fixture
async def relay(silent: Silent) -> AsyncIterator[tuple[EchoServer, ForwardingListener]]:
    """An engine whose sids name node AAAAAAAA; node BBBBBBBB is the silent server."""

    async def lookup(node: str) -> str | None:
        return f"127.0.0.1:{silent.port}" if node == OWNER_NODE else None

    server = EchoServer(ping_interval=0.2, ping_timeout=0.2)
    listener = ForwardingListener(
        reuse_port_socket("127.0.0.1", 0),
        None,
        [],
        routing=SidRouting("AAAAAAAA", 0, [], lookup),
    )
    server.listener = listener
    listener.mount(server.engine)
    await server.start()
    try:
        yield server, listener
    finally:
        await listener.close()


def _unknown_sid(answer: httpx.Response) -> bool:
    return answer.status_code == 400 and answer.json()["message"] == "Session ID unknown"


async def test_an_owner_that_never_answers_means_the_session_is_gone(
    relay: tuple[EchoServer, ForwardingListener], silent: Silent
) -> None:
    server, listener = relay
    listener.answer_margin = 0.5  # the GET's answer is due in 0.2 + 0.2 + 0.5 s
    async with httpx.AsyncClient(timeout=WAIT) as http:
        answer = await http.get(f"{server.url}?EIO=4&transport=polling&sid={SID}")
    assert _unknown_sid(answer)
    relayed = await asyncio.wait_for(silent.received.get(), WAIT)
    assert f"{FORWARDED_HEADER}: 1".encode() in relayed and SID.encode() in relayed
    assert listener.stats.gone == 1 and listener.stats.requests == 0


async def test_relays_beyond_the_limit_get_503(
    relay: tuple[EchoServer, ForwardingListener], silent: Silent
) -> None:
    server, listener = relay
    listener.answer_margin = WAIT * 3  # the first relay waits for the test's whole length
    listener.max_in_flight = 1
    url = f"{server.url}?EIO=4&transport=polling&sid={SID}"
    async with httpx.AsyncClient(timeout=WAIT) as first, httpx.AsyncClient(timeout=WAIT) as second:
        waiting = asyncio.ensure_future(first.get(url))
        try:
            await asyncio.wait_for(silent.received.get(), WAIT)  # the first is relayed
            refused = await second.get(url)
            assert refused.status_code == 503
            assert listener.stats.refused == 1
        finally:
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
