"""``roomcast serve --advertise``: three servers behind HAProxy in round-robin without affinity.

Every request (not only every connection) may reach any server; a polling session's requests
that reach another server are forwarded to its owner, named in the sid.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio
import websockets
import websockets.asyncio.client

from roomcast.cluster.forward import FORWARDED_HEADER
from roomcast.cluster.registry import KEY_PREFIX, TTL
from tests.chat.test_browser import Browser, browser, connect_and_join, expect, open_page
from tests.chat.tokens import SECRET, user_token
from tests.conftest import ROOT, free_port
from tests.socketio.conftest import ConnectFailed, NodeClient, NodeDriver, PyClient, SioClient
from tests.waiting import until_async

from .conftest import WAIT, NodeServer, RedisServer

__all__ = ["browser"]  # the fixture

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
APP = ("tests.redis.worker_app:io",)


@dataclass
class Node:
    port: int
    cluster_port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    pid: int = 0


@dataclass
class Cluster:
    url: str
    stats_url: str
    nodes: list[Node] = field(default_factory=list)

    async def backend_stats(self) -> dict[str, dict[str, str]]:
        """HAProxy's counters of each server (by name s0, s1, s2)."""
        async with httpx.AsyncClient(timeout=WAIT) as http:
            text = (await http.get(self.stats_url)).text
        rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
        return {
            row["svname"]: row
            for row in rows
            if row["pxname"] == "servers" and row["svname"] != "BACKEND"
        }


def _free_ports(count: int) -> int:
    """A port P with P..P+count-1 all free now (the cluster ports of ``count`` workers)."""
    for _ in range(100):
        first = free_port()
        socks = []
        try:
            for offset in range(count):
                sock = socket.socket()
                socks.append(sock)
                # as the servers bind (socket.create_server): a port that only connections
                # in TIME-WAIT still use is free for them
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("127.0.0.1", first + offset))
            return first
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no run of free ports")


def _haproxy_config(port: int, stats_port: int, nodes: list[Node]) -> str:
    servers = "\n".join(
        f"    server s{i} 127.0.0.1:{node.port} check inter 200ms fall 1 rise 1"
        for i, node in enumerate(nodes)
    )
    return f"""
global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 60s
    retries 10
    option redispatch 1
frontend front
    bind 127.0.0.1:{port}
    default_backend servers
frontend stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
backend servers
    balance roundrobin
    retry-on conn-failure empty-response
    http-request disable-l7-retry if METH_POST
{servers}
"""


def _start_node(node: Node, redis_url: str, workers: int, app: Sequence[str] = APP) -> None:
    node.process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "roomcast",
            "serve",
            *app,
            "--port",
            str(node.port),
            "--redis-url",
            redis_url,
            "--advertise",
            f"127.0.0.1:{node.cluster_port}",
            "--log-level",
            "info",
            *(["--workers", str(workers)] if workers > 1 else []),
        ],
        stdout=subprocess.PIPE,
        stderr=node.log.open("wb"),
        cwd=ROOT,
    )
    node.pid = node.process.pid


@contextlib.asynccontextmanager
async def _running(
    nodes: list[Node], redis_url: str, workers: int = 1, app: Sequence[str] = APP
) -> AsyncIterator[None]:
    """Start ``nodes`` and wait until each listens; stop them (SIGTERM, then kill) at the end."""
    try:
        for node in nodes:
            _start_node(node, redis_url, workers, app)
        for node in nodes:
            assert node.process is not None and node.process.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(node.process.stdout.readline), WAIT)
            assert line.startswith(b"roomcast listening on"), node.log.read_text()
        yield
    finally:
        for node in nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        for node in nodes:
            if node.process is not None:
                try:
                    node.process.wait(WAIT)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait()


@contextlib.asynccontextmanager
async def _nodes(
    redis_server: RedisServer, tmp_path: Path, count: int, prefix: str = "n"
) -> AsyncIterator[list[Node]]:
    """``count`` ``--advertise`` servers, running, with no load balancer before them."""
    nodes = [Node(free_port(), free_port(), tmp_path / f"{prefix}{i}.log") for i in range(count)]
    async with _running(nodes, redis_server.url):
        yield nodes


@pytest.fixture
async def cluster(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[Cluster]:
    """Three ``roomcast serve --advertise`` servers and HAProxy in round-robin before them."""
    async with _cluster(redis_server, tmp_path, 1) as made:
        yield made


@pytest.fixture
async def cluster_of_workers(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[Cluster]:
    """The same with ``--workers 2`` on each server (two hosts of two workers, and a third)."""
    async with _cluster(redis_server, tmp_path, 2) as made:
        yield made


@contextlib.asynccontextmanager
async def _cluster(
    redis_server: RedisServer, tmp_path: Path, workers: int, app: Sequence[str] = APP
) -> AsyncIterator[Cluster]:
    port, stats_port = free_port(), free_port()
    result = Cluster(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{stats_port}/stats;csv")
    result.nodes = [
        Node(free_port(), _free_ports(workers), tmp_path / f"s{i}.log") for i in range(3)
    ]
    config = tmp_path / "haproxy.cfg"
    config.write_text(_haproxy_config(port, stats_port, result.nodes))
    async with _running(result.nodes, redis_server.url, workers, app):
        haproxy = subprocess.Popen([HAPROXY, "-db", "-f", str(config)], stdout=subprocess.DEVNULL)
        try:

            async def all_up() -> bool:
                try:
                    stats = await result.backend_stats()
                except httpx.HTTPError:
                    return False
                return len(stats) == 3 and all(row["status"] == "UP" for row in stats.values())

            await until_async(all_up, bool)
            yield result
        finally:
            haproxy.terminate()
            haproxy.wait(WAIT)


async def _connect_all(cluster: Cluster, clients: list[SioClient]) -> dict[int, list[SioClient]]:
    """Connect every client through the load balancer, join room r; the clients by the pid of
    the server that has each one's session once its upgrade (if any) is over (the server its
    WebSocket reached, where the session moved, unless that is a worker of the same host)."""
    by_pid: dict[int, list[SioClient]] = {}
    for client in clients:
        await client.connect(cluster.url)
        await client.next_event("hello")
        assert await client.call("join", "r") == ["joined"]
        if "websocket" in client.transports:  # type: ignore[attr-defined]
            await until_async(partial(client.call, "state"), _on_websocket)
        pid = (await client.call("where"))[0]
        by_pid.setdefault(pid, []).append(client)
    return by_pid


def _on_websocket(answer: list[dict[str, Any]]) -> bool:
    return answer[0]["transport"] == "websocket"


async def _broadcast_reaches(clients: list[SioClient], sender: SioClient, text: str) -> None:
    assert await sender.call("shout", "r", text) == ["sent"]
    for client in clients:
        assert await client.next_event("news") == [text]


async def _still_working(clients: list[SioClient], text: str) -> list[SioClient]:
    """Broadcast ``text`` from the first client still connected: the clients that get it;
    each of the others must have been disconnected by a transport error."""
    sender = next(c for c in clients if not c.disconnected.done())
    assert await sender.call("shout", "r", text) == ["sent"]
    working = []
    for client in clients:
        news = asyncio.ensure_future(client.next_event("news"))
        await asyncio.wait([news, client.disconnected], return_when="FIRST_COMPLETED")
        if news.done():
            assert news.result() == [text]
            working.append(client)
        else:
            news.cancel()
            assert client.disconnected.result() in ("transport error", "transport close")
    return working


def _like(client: SioClient, driver: NodeDriver) -> SioClient:
    """A new client of the same library and transports."""
    transports = list(client.transports)  # type: ignore[attr-defined]
    if isinstance(client, NodeClient):
        return NodeClient(driver, transports)
    return PyClient(transports)


def _kinds(driver: NodeDriver) -> list[SioClient]:
    """Node polling-only, Node polling then WebSocket, python-socketio both ways: 3 of each."""
    made: list[SioClient] = []
    for _ in range(3):
        made.append(NodeClient(driver, ["polling"]))
        made.append(NodeClient(driver, ["polling", "websocket"]))
        made.append(PyClient(["polling"]))
        made.append(PyClient(["polling", "websocket"]))
    return made


@pytest.fixture
async def node_driver(node: str) -> AsyncIterator[NodeDriver]:
    driver = await NodeDriver.start(node)
    try:
        yield driver
    finally:
        await driver.close()


async def test_every_client_works_through_round_robin_without_affinity(
    cluster: Cluster, node_driver: NodeDriver
) -> None:
    clients = _kinds(node_driver)
    try:
        by_pid = await _connect_all(cluster, clients)
        assert len(by_pid) >= 2  # sessions owned by several servers
        assert await clients[0].call("count", "r") == [len(clients)]
        for round_ in range(5):  # many polling requests, each to the next server
            await _broadcast_reaches(clients, clients[round_], f"news {round_}")
        for client in clients:
            assert not client.disconnected.done(), await client.disconnected
        stats = await cluster.backend_stats()
        assert all(row["hrsp_4xx"] == "0" for row in stats.values()), stats  # no unknown sid
        assert all(int(row["hrsp_2xx"]) > 20 for row in stats.values()), stats
    finally:
        for client in clients:
            if not client.disconnected.done():
                await client.disconnect()
    for node in cluster.nodes:  # stopped: each says what it forwarded
        assert node.process is not None
        node.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(node.process.wait, WAIT) == 0
    logs = [node.log.read_text() for node in cluster.nodes]
    assert all("forwarded " in log for log in logs), logs
    assert not any("Traceback" in log for log in logs), logs


async def test_a_stopped_and_a_killed_server_leave_the_others_clients_working(
    cluster: Cluster, node_driver: NodeDriver
) -> None:
    clients = _kinds(node_driver)
    later: list[SioClient] = []
    try:
        by_pid = await _connect_all(cluster, clients)

        def mixed(node: Node) -> tuple[bool, int]:
            mine = by_pid.get(node.pid, [])
            kinds = {c.transports == ["polling"] for c in mine}  # type: ignore[attr-defined]
            return len(kinds) == 2, len(mine)

        # the survivor: a server with clients of both kinds (the load balancer chose who got
        # what; its WebSocket clients may have made their handshake on the others)
        stopped, killed, alive = sorted(cluster.nodes, key=mixed)
        assert stopped.process is not None and killed.process is not None
        stopped.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(stopped.process.wait, WAIT) == 0
        killed.process.kill()
        await asyncio.to_thread(killed.process.wait, WAIT)
        for client in by_pid.get(stopped.pid, []) + by_pid.get(killed.pid, []):
            await asyncio.wait_for(asyncio.shield(client.disconnected), WAIT)
        # Every client of the survivor keeps working: a WebSocket that reached it through
        # the load balancer moved its session there (whichever server made it), and a
        # long-polling GET relayed through a dead server is sent again by HAProxy (retry-on
        # empty-response), and the owner takes it.
        survivors = await _still_working(by_pid[alive.pid], "still here")
        assert survivors == by_pid[alive.pid]
        assert mixed(alive)[0], by_pid
        # the others connect again through the load balancer: all to the survivor
        gone = [c for c in clients if c not in survivors]
        later = [_like(c, node_driver) for c in gone]
        again = await _connect_all(cluster, later)
        assert set(again) == {alive.pid}
        everyone = await _still_working(survivors + later, "welcome back")
        assert all(c in everyone for c in later)
    finally:
        for client in clients + later:
            if not client.disconnected.done():
                await client.disconnect()
    assert "Traceback" not in alive.log.read_text()


def test_haproxy_is_installed() -> None:
    assert os.access(HAPROXY, os.X_OK), "scripts/system-deps.sh installs haproxy"


async def test_servers_with_workers_form_one_cluster(
    cluster_of_workers: Cluster, node_driver: NodeDriver
) -> None:
    clients = _kinds(node_driver)
    try:
        by_pid = await _connect_all(cluster_of_workers, clients)
        assert len(by_pid) >= 3  # worker processes of several servers own sessions
        for round_ in range(3):
            await _broadcast_reaches(clients, clients[round_], f"news {round_}")
        for client in clients:
            assert not client.disconnected.done(), await client.disconnected
        stats = await cluster_of_workers.backend_stats()
        assert all(row["hrsp_4xx"] == "0" for row in stats.values()), stats
    finally:
        for client in clients:
            if not client.disconnected.done():
                await client.disconnect()


@pytest.fixture
async def pair(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[list[Node]]:
    """Two ``--advertise`` servers, no load balancer: the tests choose where requests go."""
    async with _nodes(redis_server, tmp_path, 2, "p") as nodes:
        yield nodes


def _url(node: Node, sid: str | None = None) -> str:
    url = f"http://127.0.0.1:{node.port}/socket.io/?EIO=4&transport=polling"
    return url if sid is None else f"{url}&sid={sid}"


async def _open(http: httpx.AsyncClient, node: Node) -> str:
    answer = await http.get(_url(node))
    return str(json.loads(answer.text[1:])["sid"])


def _unknown_sid(answer: httpx.Response) -> bool:
    return answer.status_code == 400 and answer.json() == {
        "code": 1,
        "message": "Session ID unknown",
    }


async def test_sids_name_the_server_that_made_them(pair: list[Node]) -> None:
    async with httpx.AsyncClient(timeout=WAIT) as http:
        first = [await _open(http, pair[0]) for _ in range(3)]
        second = await _open(http, pair[1])
    assert all(len(sid) == 33 for sid in [*first, second])  # 9 naming the owner, 24 random
    assert len({sid[:9] for sid in first}) == 1
    assert second[:9] != first[0][:9]
    assert len({sid[9:] for sid in first}) == 3


async def test_a_session_of_a_killed_server_is_unknown_elsewhere(pair: list[Node]) -> None:
    owner, other = pair
    async with httpx.AsyncClient(timeout=WAIT) as http:
        sid = await _open(http, owner)
        assert (await http.post(_url(other, sid), content="40")).text == "ok"  # relayed
        assert owner.process is not None
        owner.process.kill()
        await asyncio.to_thread(owner.process.wait, WAIT)
        assert _unknown_sid(await http.get(_url(other, sid)))
        assert _unknown_sid(await http.post(_url(other, sid), content="3"))
        # a sid naming a server the registry never knew, and a plain 24-character one
        assert _unknown_sid(await http.get(_url(other, "zzzzzzzzA" + "x" * 24)))
        assert _unknown_sid(await http.get(_url(other, "x" * 24)))
    assert "Traceback" not in other.log.read_text()


async def test_a_node_server_shares_rooms_with_the_cluster_through_redis(
    cluster: Cluster, node_driver: NodeDriver, node: str, redis_server: RedisServer
) -> None:
    """Node's socket.io cannot take part in the forwarding (its clients connect to it
    directly: it would need sticky sessions behind the load balancer), but its Redis adapter
    shares rooms with the cluster both ways."""
    node_server = await NodeServer.start(node, redis_server.url)
    theirs = NodeClient(node_driver, ["websocket"])
    ours = [PyClient(["polling"]), NodeClient(node_driver, ["polling"])]
    try:
        await theirs.connect(node_server.url)
        assert await theirs.call("join", "r") == ["joined"]
        await _connect_all(cluster, ours)
        await _broadcast_reaches([*ours, theirs], ours[0], "from roomcast")
        await node_server.command("emit", room="r", event="news", args=["from node"])
        for client in ours:
            assert await client.next_event("news") == ["from node"]
    finally:
        for client in [*ours, theirs]:
            if not client.disconnected.done():
                await client.disconnect()
        await node_server.close()


async def test_the_chat_page_through_round_robin(
    redis_server: RedisServer, tmp_path: Path, browser: Browser
) -> None:
    """Two browsers chat through HAProxy before three chat servers (the page's client polls,
    then upgrades; every request may reach any server)."""
    async with _cluster(redis_server, tmp_path, 1, ("--jwt-secret", SECRET)) as chat:
        errors: list[str] = []
        ann = await open_page(browser, chat.url + "/", errors)
        await connect_and_join(ann, "Ann", user_token("1", "Ann"))
        bob = await open_page(browser, f"{chat.url}/#token={user_token('2', 'Bob')}", errors)
        await connect_and_join(bob, "Bob")
        for turn in range(3):
            await ann.fill("#message", f"Hi Bob {turn}")
            await ann.press("#message", "Enter")
            await bob.fill("#message", f"Hi Ann {turn}")
            await bob.press("#message", "Enter")
        await expect(bob.locator("li.theirs")).to_have_text([f"Ann: Hi Bob {t}" for t in range(3)])
        await expect(ann.locator("li.theirs")).to_have_text([f"Bob: Hi Ann {t}" for t in range(3)])
        assert errors == []
        stats = await chat.backend_stats()
        assert all(row["hrsp_4xx"] == "0" for row in stats.values()), stats


async def test_the_public_port_does_not_believe_the_relay_headers(pair: list[Node]) -> None:
    """A client cannot pass its request for a relayed one (served as is where it lands):
    only the cluster ports and the workers' unix sockets believe that header."""
    owner, other = pair
    async with httpx.AsyncClient(timeout=WAIT) as http:
        sid = await _open(http, owner)
        faked = {FORWARDED_HEADER: "1"}
        answer = await http.post(_url(other, sid), content="40", headers=faked)
        assert answer.text == "ok"  # relayed to the owner all the same
        received = ""
        while "40{" not in received:
            answer = await http.get(_url(other, sid), headers=faked)
            assert answer.status_code == 200, answer.text
            received += answer.text


async def test_a_server_is_in_the_registry_while_it_runs(
    pair: list[Node], redis_server: RedisServer
) -> None:
    owner, _ = pair
    async with httpx.AsyncClient(timeout=WAIT) as http:
        node_id = (await _open(http, owner))[:8]
    registry = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        key = KEY_PREFIX + node_id
        assert await registry.get(key) == f"127.0.0.1:{owner.cluster_port}".encode()
        assert 0 < await registry.pttl(key) <= TTL * 1000  # gone after a crash
        assert owner.process is not None
        owner.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(owner.process.wait, WAIT) == 0
        assert await registry.get(key) is None  # deleted on the way out
    finally:
        await registry.aclose()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--advertise", "127.0.0.1:9000"], "--advertise needs --redis-url"),
        (["--redis-url", "redis://127.0.0.1:1/0", "--advertise", "9000"], "give HOST:PORT"),
    ],
)
def test_advertise_is_refused_without_what_it_needs(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "roomcast", "serve", "--port", "0", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT * 3,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "ROOMCAST_REDIS_URL"},
    )
    assert done.returncode == 2
    assert message in done.stderr


def test_a_server_that_cannot_reach_redis_does_not_join() -> None:
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    argv = ["serve", "--port", "0", "--redis-url", unreachable]
    done = subprocess.run(
        [sys.executable, "-m", "roomcast", *argv, "--advertise", f"127.0.0.1:{free_port()}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT * 3,
        check=False,
    )
    assert done.returncode == 1
    assert "cannot join the cluster: Redis is unreachable" in done.stderr
    assert "Traceback" not in done.stderr


# a session moves to the server its WebSocket upgrade reached


@pytest.fixture
async def trio(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[list[Node]]:
    """Three ``--advertise`` servers: the owner of the sessions, the one their WebSockets
    reach, and one more (no load balancer: the tests route requests)."""
    async with _nodes(redis_server, tmp_path, 3) as nodes:
        yield nodes


@contextlib.asynccontextmanager
async def _split_proxy(
    tmp_path: Path, polling: Node, websocket_port: int, backup: Node | None = None
) -> AsyncIterator[str]:
    """HAProxy sending polling requests to ``polling`` (``backup`` once it is down) and
    WebSocket upgrades to ``websocket_port``; yields its URL."""
    port = free_port()
    spare = "" if backup is None else f"    server b 127.0.0.1:{backup.port} backup\n"
    config = tmp_path / "split.cfg"
    config.write_text(f"""
global
    maxconn 200
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 60s
    retries 3
    option redispatch 1
frontend front
    bind 127.0.0.1:{port}
    use_backend upgrades if {{ urlp(transport) -m str websocket }}
    default_backend polls
backend polls
    server a 127.0.0.1:{polling.port} check inter 200ms fall 1 rise 1
{spare}backend upgrades
    server w 127.0.0.1:{websocket_port}
""")
    haproxy = subprocess.Popen([HAPROXY, "-db", "-f", str(config)], stdout=subprocess.DEVNULL)
    try:

        async def listening() -> bool:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                return False
            writer.close()
            return True

        await until_async(listening, bool)
        yield f"http://127.0.0.1:{port}"
    finally:
        haproxy.terminate()
        haproxy.wait(WAIT)


def _client_of(library: str, driver: NodeDriver, transports: list[str]) -> SioClient:
    return NodeClient(driver, transports) if library == "node" else PyClient(transports)


BURST = 64
"""Events the owner queues at the connection: more than one polling answer holds (16 packets),
so the client's upgrade usually begins with some of them still queued there."""


@pytest.mark.parametrize("library", ["node", "python"])
async def test_an_upgrade_through_another_server_moves_the_session_there(
    trio: list[Node], node_driver: NodeDriver, tmp_path: Path, library: str
) -> None:
    owner, arrival, other = trio
    client = _client_of(library, node_driver, ["polling", "websocket"])
    sender = PyClient(["websocket"])
    async with _split_proxy(tmp_path, owner, arrival.port) as url:
        try:
            await client.reply("question", 42)
            await client.hold("pending")
            await client.connect(url, auth={"burst": BURST, "late": True})
            (first,) = await client.next_event("hello")
            if library == "node":  # it joins the namespace on polling, before it upgrades
                assert first == owner.pid
            else:  # python-socketio upgrades first (its namespace connects on the WebSocket)
                assert first in (owner.pid, arrival.pid)
            received = [await client.next_event() for _ in range(BURST)]
            # each once, in order, whether it left by polling or on the WebSocket
            assert [args[0] for args in received] == list(range(BURST))
            state = await until_async(partial(client.call, "state"), _on_websocket)
            assert state[0] == {
                "data": {"first": first},
                "rooms": ["lobby"],
                "id": client.sid,
                "transport": "websocket",
            }
            assert await client.call("where") == [arrival.pid]
            if first == owner.pid:
                # the old server's emit_with_ack failed at the move, and what its handler
                # sent then reaches the client too
                assert await client.next_event("late") == [owner.pid, "SocketDisconnected"]
            # the client depends on the server its WebSocket reached only
            assert owner.process is not None
            owner.process.kill()
            await asyncio.to_thread(owner.process.wait, WAIT)
            assert await client.call("where") == [arrival.pid]
            assert await client.call("ask") == [42]  # the server's ack reaches its handler
            assert await client.next_event("question") == []
            assert (await client.call("state"))[0]["rooms"] == ["lobby"]
            await sender.connect(f"http://127.0.0.1:{other.port}")
            assert await sender.call("shout", "lobby", "hi") == ["sent"]
            assert await client.next_event("news") == ["hi"]
            rest = [client.events.get_nowait()[0] for _ in range(client.events.qsize())]
            assert set(rest) <= {"pending"}  # no event twice, no second hello
            assert not client.disconnected.done()
        finally:
            for each in (client, sender):
                if not each.disconnected.done():
                    await each.disconnect()
    log = arrival.log.read_text()
    assert "moved here" in log, log
    assert "Traceback" not in log


class _HeldDoor:
    """A TCP door to ``port`` that holds each connection until :attr:`open` is set."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.knocked = asyncio.Event()
        self.open = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.knocked.set()
        await self.open.wait()
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


@pytest.mark.parametrize("library", ["node", "python"])
async def test_an_upgrade_whose_owner_is_gone_fails_and_the_client_comes_back(
    trio: list[Node], node_driver: NodeDriver, tmp_path: Path, library: str
) -> None:
    """The owner died between the client's handshake and its upgrade: the upgrade is refused
    at once (as for an unknown session), the client's polling finds the session gone, and
    the client connects again through the load balancer, to a live server."""
    owner, arrival, _ = trio
    door = _HeldDoor(arrival.port)
    door_port = await door.start()
    client = _client_of(library, node_driver, ["polling", "websocket"])
    again = _client_of(library, node_driver, ["polling", "websocket"])
    try:
        async with _split_proxy(tmp_path, owner, door_port, backup=arrival) as url:
            connecting = asyncio.ensure_future(client.connect(url))
            await asyncio.wait_for(door.knocked.wait(), WAIT)  # its upgrade is on the way
            assert owner.process is not None
            owner.process.kill()
            await asyncio.to_thread(owner.process.wait, WAIT)
            door.open.set()
            try:
                await connecting
            except ConnectFailed:
                pass  # python-socketio upgrades before it connects the namespace: its error
            else:
                assert await client.reason() in ("transport error", "transport close")
            await again.connect(url)  # to the backup now
            assert await again.next_event("hello") == [arrival.pid]
            assert await again.call("where") == [arrival.pid]
    finally:
        for each in (client, again):
            if not each.disconnected.done():
                with contextlib.suppress(Exception):
                    await each.disconnect()
        await door.close()
    log = arrival.log.read_text()
    assert "Traceback" not in log, log


async def test_an_ack_answered_after_the_move_by_a_handler_on_the_old_server_arrives(
    trio: list[Node], node_driver: NodeDriver, tmp_path: Path
) -> None:
    """The client's ``call`` reached its session's owner, whose handler answers only after
    the session moved (its upgrade, held at a door meanwhile, reached another server): the
    answer is relayed to the new server, and the client gets it."""
    owner, arrival, _ = trio
    door = _HeldDoor(arrival.port)
    door_port = await door.start()
    client = NodeClient(node_driver, ["polling", "websocket"])
    try:
        async with _split_proxy(tmp_path, owner, door_port) as url:
            await client.connect(url)
            assert await client.next_event("hello") == [owner.pid]
            call = asyncio.ensure_future(client.call("slow"))
            assert await client.next_event("started") == [owner.pid]  # on polling, there
            door.open.set()  # now the upgrade goes on, and the session moves
            assert await asyncio.wait_for(call, WAIT) == [owner.pid]
            assert await client.call("where") == [arrival.pid]
            assert not client.disconnected.done()
    finally:
        if not client.disconnected.done():
            await client.disconnect()
        await door.close()
    assert "moved here" in arrival.log.read_text()


async def test_a_session_whose_data_is_not_json_stays_and_its_websocket_is_piped(
    trio: list[Node], node_driver: NodeDriver, tmp_path: Path
) -> None:
    owner, arrival, _ = trio
    clients = [NodeClient(node_driver, ["polling", "websocket"]) for _ in range(2)]
    try:
        async with _split_proxy(tmp_path, owner, arrival.port) as url:
            for client in clients:
                await client.connect(url, auth={"bytes": True})
                assert await client.next_event("hello") == [owner.pid]
                await until_async(partial(client.call, "state"), _on_websocket)
                assert await client.call("where") == [owner.pid]  # through the pipe
    finally:
        for client in clients:
            if not client.disconnected.done():
                await client.disconnect()
    log = owner.log.read_text()
    assert log.count("cannot move to another server") == 1, log  # logged once
    assert "moved here" not in arrival.log.read_text()


async def test_a_session_that_can_no_longer_move_at_the_take_stays_and_is_relayed(
    trio: list[Node],
) -> None:
    """The application makes the socket's data unfit for JSON after the arriving server's
    ``prepare`` (as a connect handler running while the client probes does): at ``take`` the
    client is already upgraded to that server's WebSocket, so that server relays it to the
    owner, which keeps the session; what the owner had queued comes first, nothing is lost,
    and the client's close ends the session there."""
    owner, arrival, _ = trio
    ws_url = f"ws://127.0.0.1:{arrival.port}/socket.io/?EIO=4&transport=websocket"
    async with httpx.AsyncClient(timeout=WAIT) as http:
        sid = await _open(http, owner)
        assert (await http.post(_url(owner, sid), content="40")).text == "ok"
        assert (await http.get(_url(owner, sid))).text.startswith("40{")
        async with websockets.asyncio.client.connect(f"{ws_url}&sid={sid}") as ws:
            await ws.send("2probe")
            assert await ws.recv() == "3probe"
            spoil = await http.post(_url(owner, sid), content='42["spoil"]')
            assert spoil.text == "ok"  # handled on the owner: its answer waits in its queue
            await ws.send("5")
            await ws.send('421["where"]')
            assert await ws.recv() == f'42["spoiled",{owner.pid}]'
            assert await ws.recv() == f"431[{owner.pid}]"
            await ws.send('451-3["echo",{"_placeholder":true,"num":0}]')  # binary both ways
            await ws.send(b"\x00\x01")
            assert await ws.recv() == '461-3[{"_placeholder":true,"num":0}]'
            assert await ws.recv() == b"\x00\x01"
            await ws.send('42["where"]')  # no ack asked: nothing comes back
            await ws.send('422["where"]')
            assert await ws.recv() == f"432[{owner.pid}]"
            for node in (owner, arrival):  # upgraded, and not moved: "Bad request" anywhere
                answer = await http.get(_url(node, sid))
                assert answer.status_code == 400 and answer.json()["code"] == 3, node

        async def poll() -> httpx.Response:
            return await http.get(_url(owner, sid))

        await until_async(poll, _unknown_sid)  # the client's close reached the owner
    owner_log, arrival_log = owner.log.read_text(), arrival.log.read_text()
    assert owner_log.count("cannot move to another server") == 1, owner_log
    assert "stays with its owner: its WebSocket is piped there" in arrival_log
    assert "moved here" not in arrival_log
    assert "Traceback" not in owner_log + arrival_log


async def test_the_engineio_sequence_of_a_session_moving(trio: list[Node]) -> None:
    """On the wire: the owner's waiting GET (relayed by a third server) gets a noop on the
    probe; after the move the WebSocket serves the session, and a polling request for it
    anywhere gets the answer of an upgraded session (400 Bad request), not "unknown"."""
    owner, arrival, other = trio
    ws_url = f"ws://127.0.0.1:{arrival.port}/socket.io/?EIO=4&transport=websocket"
    bad_request = {"code": 3, "message": "Bad request"}
    async with httpx.AsyncClient(timeout=WAIT) as http:
        sid = await _open(http, owner)
        assert (await http.post(_url(owner, sid), content="40")).text == "ok"
        assert (await http.get(_url(owner, sid))).text.startswith("40{")
        refused = websockets.asyncio.client.connect(
            f"{ws_url}&sid={sid}", additional_headers={"x-refuse": "1"}
        )
        with pytest.raises(websockets.InvalidStatus) as caught:
            await refused  # the engine's middleware runs on the server the upgrade reached
        assert caught.value.response.status_code == 403
        waiting = asyncio.ensure_future(http.get(_url(other, sid)))
        async with websockets.asyncio.client.connect(f"{ws_url}&sid={sid}") as ws:
            await ws.send("2probe")
            assert await ws.recv() == "3probe"
            assert (await waiting).text == "6"
            await ws.send("5")
            await ws.send('420["where"]')
            assert await ws.recv() == f"430[{arrival.pid}]"
            for node in (owner, other, arrival):
                answer = await http.get(_url(node, sid))
                assert (answer.status_code, answer.json()) == (400, bad_request), node
            assert owner.process is not None
            owner.process.kill()
            await asyncio.to_thread(owner.process.wait, WAIT)
            await ws.send('421["where"]')
            assert await ws.recv() == f"431[{arrival.pid}]"
    assert "Traceback" not in arrival.log.read_text()


async def test_an_upgrade_given_up_after_the_probe_leaves_the_session_on_polling(
    trio: list[Node],
) -> None:
    """The WebSocket closes between ``3probe`` and ``5``: the owner is told, its session goes
    on polling as before (no more noop answers), and a later upgrade moves it."""
    owner, arrival, _ = trio
    ws_url = f"ws://127.0.0.1:{arrival.port}/socket.io/?EIO=4&transport=websocket"
    async with httpx.AsyncClient(timeout=WAIT) as http:
        sid = await _open(http, owner)
        async with websockets.asyncio.client.connect(f"{ws_url}&sid={sid}") as ws:
            await ws.send("2probe")
            assert await ws.recv() == "3probe"
        assert (await http.post(_url(arrival, sid), content="40")).text == "ok"

        async def poll() -> str:
            return (await http.get(_url(owner, sid))).text

        # a noop may still come while the owner hears of the cancel; then the answer is there
        assert (await until_async(poll, lambda text: text != "6")).startswith("40{")
        async with websockets.asyncio.client.connect(f"{ws_url}&sid={sid}") as ws:
            await ws.send("2probe")
            assert await ws.recv() == "3probe"
            await ws.send("5")
            await ws.send('420["where"]')
            assert await ws.recv() == f"430[{arrival.pid}]"
    assert "Traceback" not in owner.log.read_text() + arrival.log.read_text()
