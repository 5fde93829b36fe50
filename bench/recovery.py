"""Connection state recovery after a server restart: 1,000 clients reconnecting at once.

roomcast and Node's socket.io 4.8, each with its Redis Streams adapter (roomcast's
``redis_streams_adapter``, Node's ``@socket.io/redis-streams-adapter`` 0.3.1) and connection state
recovery on (``bench/servers/roomcast_recovery.py``, ``bench/servers/node_recovery.js``), sharing
a ``redis-server`` the bench starts on a free port. For each kind of server, two servers A and B:

1. ``--clients`` clients (``bench/recovery_clients.js``, raw protocol over WebSocket) connect to A,
   client i joins room ``r<i % rooms>``, and one broadcast reaches every room (so every client
   holds an offset);
2. A is stopped: SIGTERM (a restart: the server closes gracefully, which Node needs to save its
   sessions) or SIGKILL (a crash: only servers that keep live sessions in Redis, roomcast, can
   recover those clients);
3. ``--missed`` broadcasts to every room are sent through B meanwhile;
4. every client reconnects to B at the same moment with its pid and offset.

Measured from that moment: per client, the time until it is connected and, when recovered, has
every missed message (p50/p99); the time until the last client is done; how many were recovered
and how many got a new socket; server B's CPU seconds from the moment until the last client is
done. Servers are pinned to core 0 and the clients to core 1; runs are interleaved (run 1 of
every configuration, then run 2, ...) and the table shows medians. The servers' logs go to
``recovery-servers.log`` next to the results.

Usage: ``python -m bench.recovery [--clients 1000] [--rooms 10] [--missed 100] [--runs 3]
[--signals term,kill] [--timeout 60] [--smoke]``
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from bench.cluster import process_cpu, start_redis
from bench.suite import BENCH, PYTHON, ROOT, free_port, pin, raise_fd_limit, stop, wait_for_port

KINDS = {
    "roomcast": (PYTHON, str(BENCH / "servers" / "roomcast_recovery.py")),
    "node": ("node", str(BENCH / "servers" / "node_recovery.js")),
}
NAMES = {"roomcast": "roomcast", "node": "Node socket.io 4.8"}
SIGNALS = {"term": signal.SIGTERM, "kill": signal.SIGKILL}
FIGURES = ("recovered", "fresh", "complete_p50_ms", "complete_p99_ms", "all_done_ms", "cpu_b_s")


class Clients:
    """``bench/recovery_clients.js``, one command at a time."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [*pin(1), "node", str(BENCH / "recovery_clients.js")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            text=True,
            preexec_fn=raise_fd_limit,
        )
        self.next_id = 0

    def call(self, cmd: str, **args: Any) -> Any:
        stdin: IO[str] | None = self.proc.stdin
        stdout: IO[str] | None = self.proc.stdout
        assert stdin is not None and stdout is not None
        self.next_id += 1
        stdin.write(json.dumps({"id": self.next_id, "cmd": cmd, **args}) + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"the clients exited during {cmd}")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"{cmd}: {answer['error']}")
        return answer["ok"]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_server(kind: str, redis_url: str, log: IO[bytes]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    server = subprocess.Popen(
        [*pin(0), *KINDS[kind], redis_url, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=log,
        cwd=ROOT,
        preexec_fn=raise_fd_limit,
    )
    try:
        wait_for_port(port, server)
    except BaseException:
        stop(server, timeout=5)
        raise
    return server, port


def percentile(values: Sequence[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def run_once(kind: str, sig: str, args: argparse.Namespace) -> dict[str, Any]:
    """One restart of server A of ``kind`` by ``sig``, its clients reconnecting to B."""
    redis_proc, redis_url = start_redis()
    servers: list[subprocess.Popen[bytes]] = []
    clients: Clients | None = None
    log = (args.out / "recovery-servers.log").open("ab")
    try:
        log.write(f"--- {kind} SIG{sig.upper()}\n".encode())
        log.flush()
        server_a, port_a = start_server(kind, redis_url, log)
        servers.append(server_a)
        server_b, port_b = start_server(kind, redis_url, log)
        servers.append(server_b)
        clients = Clients()
        clients.call("connect", port=port_a, clients=args.clients, rooms=args.rooms)
        clients.call("publish", port=port_a, rooms=args.rooms, **{"from": 1, "to": 1})
        with_offset = clients.call("received", seq=1)
        server_a.send_signal(SIGNALS[sig])
        server_a.wait(timeout=30)
        clients.call("closed")
        last = 1 + args.missed
        clients.call("publish", port=port_b, rooms=args.rooms, **{"from": 2, "to": last})
        cpu0 = process_cpu(server_b.pid)
        result: dict[str, Any] = clients.call(
            "reconnect", port=port_b, last=last, timeout=args.timeout
        )
        result["cpu_b_s"] = process_cpu(server_b.pid) - cpu0
        result["with_offset"] = with_offset
        result["complete_p50_ms"] = percentile(result["complete_ms"], 50)
        result["complete_p99_ms"] = percentile(result["complete_ms"], 99)
        result["connect_p50_ms"] = percentile(result["connect_ms"], 50)
        result["connect_p99_ms"] = percentile(result["connect_ms"], 99)
        result["late"] = result["failed"] + result["incomplete"]
        result["all_done_ms"] = max(result["done_ms"]) if result["done_ms"] else None
        return result
    finally:
        if clients is not None:
            clients.close()
        for server in servers:
            if server.poll() is None:
                stop(server, timeout=10)
        redis_proc.terminate()
        redis_proc.wait()
        log.close()


def median(results: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in results if r.get(key) is not None]
    return statistics.median(values) if values else None


def cell(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def markdown(
    samples: dict[str, list[dict[str, Any]]], args: argparse.Namespace, load: list[float]
) -> str:
    lines = [
        f"{args.clients:,} clients in {args.rooms} rooms reconnecting at once to server B after "
        f"server A stopped, {args.missed} broadcasts per room missed meanwhile; Redis Streams "
        f"adapter and connection state recovery on both; servers pinned to core 0, clients to "
        f"core 1, {os.cpu_count()} cores; medians of {args.runs} run(s). Times from the moment "
        "all clients reconnect; 'done' = connected and, when recovered, every missed message "
        f"received; not done in time: not connected, or recovered without them, after "
        f"{args.timeout:g} s. Load average {load[0]:.1f} before, {load[-1]:.1f} after.",
        "",
        "| server | A stopped by | recovered | new socket | not done in time | done p50 ms "
        "| done p99 ms | last done ms | server B CPU s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, results in samples.items():
        kind, sig = key.split("/")
        lines.append(
            f"| {NAMES[kind]} | SIG{sig.upper()} | {cell(median(results, 'recovered'))} "
            f"| {cell(median(results, 'fresh'))} | {cell(median(results, 'late'))} "
            f"| {cell(median(results, 'complete_p50_ms'))} "
            f"| {cell(median(results, 'complete_p99_ms'))} "
            f"| {cell(median(results, 'all_done_ms'))} | {cell(median(results, 'cpu_b_s'), 2)} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.recovery", description=__doc__)
    parser.add_argument("--clients", type=int, default=1000, help="(%(default)s)")
    parser.add_argument("--rooms", type=int, default=10, help="(%(default)s)")
    parser.add_argument("--missed", type=int, default=100, help="broadcasts per room missed")
    parser.add_argument("--runs", type=int, default=3, help="runs per configuration")
    parser.add_argument("--kinds", default="roomcast,node", help="(%(default)s)")
    parser.add_argument("--signals", default="term,kill", help="(%(default)s)")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds a client may take (%(default)s)"
    )
    parser.add_argument("--smoke", action="store_true", help="10 clients, one run: does it run")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    if args.smoke:
        args.clients, args.rooms, args.missed, args.runs = 10, 2, 5, 1
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "recovery-servers.log").write_bytes(b"")
    configs = [(k, s) for k in args.kinds.split(",") for s in args.signals.split(",")]
    samples: dict[str, list[dict[str, Any]]] = {f"{k}/{s}": [] for k, s in configs}
    failed = 0
    load = [os.getloadavg()[0]]
    for run in range(1, args.runs + 1):
        for kind, sig in configs:
            print(f"run {run} · {NAMES[kind]} · SIG{sig.upper()}", end=" ", flush=True)
            began = time.monotonic()
            try:
                result = run_once(kind, sig, args)
            except Exception as exc:  # reported; the other runs go on
                print(f"FAILED: {exc}", flush=True)
                failed += 1
                continue
            samples[f"{kind}/{sig}"].append(result)
            print(
                f"recovered {result['recovered']}, new {result['fresh']}, failed "
                f"{result['failed']}, incomplete {result['incomplete']}, done p50 "
                f"{cell(result['complete_p50_ms'])} ms p99 {cell(result['complete_p99_ms'])} ms, "
                f"last {cell(result['all_done_ms'])} ms, B cpu {result['cpu_b_s']:.2f} s, "
                f"clients cpu {result['cpu_s']:.2f} s ({time.monotonic() - began:.0f} s)"
                + (f" errors {result['errors']}" if result["errors"] else ""),
                flush=True,
            )
    load.append(os.getloadavg()[0])
    text = markdown(samples, args, load)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "recovery.md").write_text(text + "\n")
    saved = {"args": {**vars(args), "out": str(args.out)}, "load": load, "samples": samples}
    (args.out / "recovery.json").write_text(json.dumps(saved))
    print()
    print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
