"""The Redis adapter with the msgpack parser: the adapter's messages carry packets in Node's
adapter format whatever the parser, so a roomcast server with ``parser="msgpack"`` shares a
cluster with Node socket.io 4.8 (@socket.io/redis-adapter 8.3) on either parser."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from roomcast.rooms.redis import redis_adapter
from roomcast.socketio.server import Server
from tests.socketio.conftest import ClientFactory, SioClient, url_of

from .conftest import WAIT, NodeServer, RedisServer, setup_app, wait_servers
from .test_cluster import received_until_end


class Pair:
    py: Server
    node: NodeServer
    p1: SioClient
    n1: SioClient


@pytest.fixture(params=["node-json", "node-msgpack"])
async def pair(
    request: pytest.FixtureRequest, redis_server: RedisServer, node: str, clients: ClientFactory
) -> AsyncIterator[Pair]:
    node_parser = request.param.split("-")[1]
    p = Pair()
    p.node = await NodeServer.start(node, redis_server.url, parser=node_parser)
    p.py = setup_app(Server(parser="msgpack", adapter=redis_adapter(redis_server.url)), "py")
    await p.py.listen("127.0.0.1", 0)
    try:
        await wait_servers(redis_server.url, "socket.io-request#/#", 2)
        for name, url, parser in (
            ("p1", url_of(p.py), "msgpack"),
            ("n1", p.node.url, node_parser),
        ):
            client = clients(parser=parser)
            await client.connect(url, auth={"user": name})
            assert await client.call("join", "r") == ["joined"]
            setattr(p, name, client)
        yield p
    finally:
        await p.py.close()
        await p.node.close()


async def test_broadcasts_and_acks_across_parsers(pair: Pair) -> None:
    values: list[Any] = [1, "é", b"\x00\x01", {"k": None, "f": 1.5, "b": [b""]}]
    pair.py.to("r").emit("py-news", *values)
    pair.py.emit("end")
    for client in (pair.p1, pair.n1):
        assert await received_until_end(client) == [("py-news", values)]

    await pair.node.command("emit", room="r", event="node-news", args=[2, b"\xff", [True]])
    await pair.node.command("emit", event="end", args=[])
    for client in (pair.p1, pair.n1):
        assert await received_until_end(client) == [("node-news", [2, b"\xff", [True]])]

    await pair.p1.reply("ask", b"\x01")
    await pair.n1.reply("ask", b"\x02")
    answers = await pair.py.timeout(WAIT).to("r").emit_with_ack("ask")
    assert sorted(answers) == [b"\x01", b"\x02"]
