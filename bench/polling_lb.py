"""Long-polling through a load balancer: roomcast forwarding (``--advertise``) against sticky
sessions (HAProxy's cookie affinity), and the cost of one forwarded hop.

Three roomcast servers (``bench/servers/roomcast_app.py``, Redis adapter) behind HAProxy:

- ``round-robin + forwarding``: ``balance roundrobin``, no affinity; the servers run with
  ``--advertise`` and forward each request to the session's owner;
- ``HAProxy sticky cookie``: ``cookie SERVERID insert``; the servers run without ``--advertise``.

C clients (httpx, one connection pool and cookie jar each) each loop: a Socket.IO handshake over
polling (open GET, ``40`` POST, GET of the CONNECT answer), R echo round trips (POST of an
event with an ack id, GETs until the ack), close. Then, without the load balancer, one client
times round trips sent to the owner against round trips sent to another server (one hop).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.suite import PYTHON, ROOT, free_port, stop, wait_for_port

APP = "bench.servers.roomcast_app:io"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
QUERY = "/socket.io/?EIO=4&transport=polling"


def _haproxy(port: int, servers: list[int], sticky: bool) -> str:
    cookie = "    cookie SERVERID insert indirect nocache\n" if sticky else ""
    lines = "\n".join(
        f"    server s{i} 127.0.0.1:{p}" + (f" cookie s{i}" if sticky else "")
        for i, p in enumerate(servers)
    )
    return (
        "global\n    maxconn 4000\ndefaults\n    mode http\n    timeout connect 2s\n"
        "    timeout client 60s\n    timeout server 60s\n"
        f"frontend front\n    bind 127.0.0.1:{port}\n    default_backend servers\n"
        f"backend servers\n    balance roundrobin\n{cookie}{lines}\n"
    )


def _start_servers(redis_url: str, count: int, advertise: bool) -> list[tuple[Any, int]]:
    started = []
    for _ in range(count):
        port = free_port()
        argv = [PYTHON, "-m", "roomcast", "serve", APP, "--port", str(port)]
        argv += ["--redis-url", redis_url, "--log-level", "warning"]
        if advertise:
            argv += ["--advertise", f"127.0.0.1:{free_port()}"]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, cwd=ROOT)
        started.append((proc, port))
    for proc, port in started:
        wait_for_port(port, proc)
    return started


async def _handshake(http: httpx.AsyncClient, base: str) -> str:
    opened = await http.get(base + QUERY)
    sid = str(json.loads(opened.text[1:])["sid"])
    url = f"{base}{QUERY}&sid={sid}"
    assert (await http.post(url, content="40")).text == "ok"
    received = ""
    while "40{" not in received:
        answer = await http.get(url)
        answer.raise_for_status()
        received += answer.text
    return url


async def _round_trip(http: httpx.AsyncClient, post_url: str, get_url: str, ack: int) -> None:
    posted = await http.post(post_url, content=f'42{ack}["echo","hello"]')
    posted.raise_for_status()
    received = ""
    while f"43{ack}" not in received:
        answer = await http.get(get_url)
        answer.raise_for_status()
        received += answer.text


async def _client(base: str, deadline: float, trips: int, out: dict[str, list[float]]) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        while time.monotonic() < deadline:
            started = time.monotonic()
            url = await _handshake(http, base)
            out["handshake"].append(time.monotonic() - started)
            for ack in range(trips):
                started = time.monotonic()
                await _round_trip(http, url, url, ack)
                out["round trip"].append(time.monotonic() - started)
            await http.post(url, content="1")


async def _load(base: str, clients: int, seconds: float, trips: int) -> dict[str, float]:
    out: dict[str, list[float]] = {"handshake": [], "round trip": []}
    started = time.monotonic()
    await asyncio.gather(*(_client(base, started + seconds, trips, out) for _ in range(clients)))
    elapsed = time.monotonic() - started
    return {
        "handshakes/s": len(out["handshake"]) / elapsed,
        "handshake p50 ms": 1000 * statistics.median(out["handshake"]),
        "round trip p50 ms": 1000 * statistics.median(out["round trip"]),
        "round trip p99 ms": 1000 * _p99(out["round trip"]),
        "round trips/s": len(out["round trip"]) / elapsed,
    }


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


async def _hop(owner: str, other: str, trips: int) -> dict[str, float]:
    """Median round trip sent to the owner, and sent to another server (forwarded)."""
    direct: list[float] = []
    forwarded: list[float] = []
    async with httpx.AsyncClient(timeout=30) as http:
        url = await _handshake(http, owner)
        far = url.replace(owner, other)
        for ack in range(trips):
            target, samples = (url, direct) if ack % 2 else (far, forwarded)
            started = time.monotonic()
            await _round_trip(http, target, target, ack)
            samples.append(time.monotonic() - started)
        await http.post(url, content="1")
    return {
        "direct p50 ms": 1000 * statistics.median(direct),
        "forwarded p50 ms": 1000 * statistics.median(forwarded),
    }


def run(redis_url: str, clients: int, seconds: float, trips: int) -> dict[str, dict[str, float]]:
    """Both load balancer setups, then the hop; the figures by setup."""
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, sticky in (("round-robin + forwarding", False), ("HAProxy sticky cookie", True)):
            servers = _start_servers(redis_url, 3, advertise=not sticky)
            lb_port = free_port()
            config = Path(tmp) / "haproxy.cfg"
            config.write_text(_haproxy(lb_port, [p for _, p in servers], sticky))
            haproxy = subprocess.Popen([HAPROXY, "-db", "-f", str(config)])
            try:
                wait_for_port(lb_port, haproxy)
                base = f"http://127.0.0.1:{lb_port}"
                results[name] = asyncio.run(_load(base, clients, seconds, trips))
            finally:
                stop(haproxy, 10)
                for proc, _ in servers:
                    stop(proc, 20)
        servers = _start_servers(redis_url, 2, advertise=True)
        try:
            (_, a), (_, b) = servers
            hop = asyncio.run(_hop(f"http://127.0.0.1:{a}", f"http://127.0.0.1:{b}", trips * 20))
            results["one hop (no load balancer)"] = hop
        finally:
            for proc, _ in servers:
                stop(proc, 20)
    return results


def markdown(results: dict[str, dict[str, float]], clients: int) -> str:
    lines = [
        f"Socket.IO over long-polling through HAProxy before 3 servers, {clients} clients "
        "(python httpx, one connection each), echo round trips:",
        "",
        "| load balancer | handshakes/s | handshake p50 ms | round trips/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        if "handshakes/s" not in r:
            continue
        lines.append(
            f"| {name} | {r['handshakes/s']:.0f} | {r['handshake p50 ms']:.1f} | "
            f"{r['round trips/s']:.0f} | {r['round trip p50 ms']:.1f} | "
            f"{r['round trip p99 ms']:.1f} |"
        )
    hop = results.get("one hop (no load balancer)")
    if hop:
        extra = hop["forwarded p50 ms"] - hop["direct p50 ms"]
        lines += [
            "",
            f"One forwarded hop: round trip p50 {hop['direct p50 ms']:.2f} ms sent to the "
            f"owner, {hop['forwarded p50 ms']:.2f} ms sent to another server "
            f"(+{extra:.2f} ms).",
        ]
    return "\n".join(lines)
