"""``roomcast serve --advertise``: three servers behind HAProxy in round-robin without affinity.

Every request (not only every connection) may reach any server; a polling session's requests
that reach another server are forwarded to its owner, named in the sid.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port
from tests.socketio.conftest import NodeClient, NodeDriver, PyClient, SioClient
from tests.waiting import until_async

from .conftest import WAIT, RedisServer

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


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
    retries 3
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
{servers}
"""


def _start_node(node: Node, redis_url: str, workers: int) -> None:
    node.process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "roomcast",
            "serve",
            "tests.redis.worker_app:io",
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
    redis_server: RedisServer, tmp_path: Path, workers: int
) -> AsyncIterator[Cluster]:
    port, stats_port = free_port(), free_port()
    result = Cluster(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{stats_port}/stats;csv")
    result.nodes = [Node(free_port(), free_port(), tmp_path / f"s{i}.log") for i in range(3)]
    config = tmp_path / "haproxy.cfg"
    config.write_text(_haproxy_config(port, stats_port, result.nodes))
    haproxy = None
    try:
        for node in result.nodes:
            _start_node(node, redis_server.url, workers)
        for node in result.nodes:
            assert node.process is not None and node.process.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(node.process.stdout.readline), WAIT)
            assert line.startswith(b"roomcast listening on"), node.log.read_text()
        haproxy = subprocess.Popen([HAPROXY, "-db", "-f", str(config)], stdout=subprocess.DEVNULL)

        async def all_up() -> bool:
            try:
                stats = await result.backend_stats()
            except httpx.HTTPError:
                return False
            return len(stats) == 3 and all(row["status"] == "UP" for row in stats.values())

        await until_async(all_up, bool)
        yield result
    finally:
        if haproxy is not None:
            haproxy.terminate()
            haproxy.wait(WAIT)
        for node in result.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        for node in result.nodes:
            if node.process is not None:
                try:
                    node.process.wait(WAIT)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait()


async def _connect_all(cluster: Cluster, clients: list[SioClient]) -> dict[int, list[SioClient]]:
    """Connect every client through the load balancer, join room r; the clients by server pid."""
    by_pid: dict[int, list[SioClient]] = {}
    for client in clients:
        await client.connect(cluster.url)
        pid = (await client.next_event("hello"))[0]
        by_pid.setdefault(pid, []).append(client)
        assert await client.call("join", "r") == ["joined"]
    return by_pid


async def _broadcast_reaches(clients: list[SioClient], sender: SioClient, text: str) -> None:
    assert await sender.call("shout", "r", text) == ["sent"]
    for client in clients:
        assert await client.next_event("news") == [text]


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
        assert set(by_pid) == {node.pid for node in cluster.nodes}  # every server owns some
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
        stopped, killed, alive = cluster.nodes
        assert stopped.process is not None and killed.process is not None
        stopped.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(stopped.process.wait, WAIT) == 0
        killed.process.kill()
        await asyncio.to_thread(killed.process.wait, WAIT)
        for client in by_pid[stopped.pid] + by_pid[killed.pid]:
            await asyncio.wait_for(asyncio.shield(client.disconnected), WAIT)
        # The survivor's clients keep working, but for those whose WebSocket was piped, or
        # whose long-polling GET was relayed, through a dead server at that moment (the load
        # balancer chose it): that connection died with it, as would any through a dead proxy.
        survivors = [c for c in by_pid[alive.pid] if not c.disconnected.done()]
        for client in by_pid[alive.pid]:
            if client.disconnected.done():
                assert await client.disconnected in ("transport error", "transport close")
        if survivors:
            await _broadcast_reaches(survivors, survivors[0], "still here")
        # the others connect again through the load balancer: all to the survivor
        gone = [c for c in clients if c not in survivors]
        later = [_like(c, node_driver) for c in gone]
        again = await _connect_all(cluster, later)
        assert set(again) == {alive.pid}
        await _broadcast_reaches(survivors + later, later[0], "welcome back")
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
