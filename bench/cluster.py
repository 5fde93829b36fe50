"""Fan-out across worker processes: ``roomcast serve --workers 2`` against one process.

Runs the fan-out scenario of ``bench/loadgen.js`` (one sender, C receivers in one room) against
the benchmark app (``bench/servers/roomcast_app.py``) served three ways, runs interleaved:

- ``1 process``: the plain server (memory adapter);
- ``1 process + Redis``: the same with the Redis adapter (every broadcast is also published);
- ``2 workers + Redis``: ``--workers 2``; the kernel spreads the receivers over both processes,
  the sender's worker delivers to its own and publishes once, the other worker delivers the rest.

A ``redis-server`` of its own is started on a free port. Nothing is pinned to a core here (the
workers must be free to use several), so on a small machine the load generator, the workers and
Redis share the cores: read the figures with the CPU count printed next to them.

Then long-polling through a load balancer before three servers (``bench/polling_lb.py``):
``--advertise`` forwarding behind plain round-robin against HAProxy's sticky cookie, and the
extra latency of one forwarded hop.

Usage: ``python -m bench.cluster [--clients 1000] [--runs 3] [--quick] [--smoke]
[--only fanout|polling]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.suite import (
    BENCH,
    FANOUT,
    PYTHON,
    ROOT,
    fmt,
    free_port,
    raise_fd_limit,
    run_loadgen,
    stop,
    wait_for_port,
)

APP = "bench.servers.roomcast_app:io"
CONFIGS = {
    "1 process": (),
    "1 process + Redis": ("--redis-url", "{redis}"),
    "2 workers + Redis": ("--redis-url", "{redis}", "--workers", "2"),
}


def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server without persistence on a free port, and its URL."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit("redis-server is needed (scripts/system-deps.sh installs it)")
    port = free_port()
    proc = subprocess.Popen(
        [
            executable,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    wait_for_port(port, proc)
    return proc, f"redis://127.0.0.1:{port}/0"


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its children (the workers)."""
    total = 0.0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(child) for child in children]
    except OSError:
        pass
    for one in pids:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().split(") ")[1].split(" ")
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            continue
    return total


def run_once(config: str, redis_url: str, clients: int, seconds: float) -> dict[str, Any]:
    """One fan-out run against the app served as ``config``."""
    port = free_port()
    extra = [arg.format(redis=redis_url) for arg in CONFIGS[config]]
    argv = [PYTHON, "-m", "roomcast", "serve", APP, "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(
        [*argv, *extra],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        preexec_fn=raise_fd_limit,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()  # printed once every worker listens
        if not line.startswith(b"roomcast listening on"):
            raise RuntimeError(f"server did not start: {line!r}")
        cpu0 = process_cpu(server.pid)
        options = {
            "scenario": "fanout",
            "port": port,
            "clients": clients,
            "seconds": seconds,
            "warmup": 1,
        }
        result = run_loadgen(options)
        result["server_cpu_total"] = process_cpu(server.pid) - cpu0
        return result
    finally:
        stop(server, timeout=20)


def polling(redis_url: str, args: argparse.Namespace) -> None:
    """The load balancer part: prints and writes ``cluster-polling.md``."""
    from bench import polling_lb

    clients, seconds, trips = (4, 1.0, 3) if args.smoke else (32, 5.0 if not args.quick else 2.0, 5)
    results = polling_lb.run(redis_url, clients, seconds, trips)
    text = polling_lb.markdown(results, clients)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cluster-polling.md").write_text(text + "\n")
    (args.out / "cluster-polling.json").write_text(json.dumps(results))
    print(text, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    parser.add_argument("--clients", type=int, default=1000, help="receivers (%(default)s)")
    parser.add_argument("--runs", type=int, default=3, help="runs per config (%(default)s)")
    parser.add_argument("--quick", action="store_true", help="2 s runs, 300 receivers")
    parser.add_argument("--smoke", action="store_true", help="a few seconds: does it run")
    parser.add_argument("--only", choices=["fanout", "polling"], help="one part only")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    clients, seconds = (300, 2.0) if args.quick else (args.clients, 5.0)
    if args.smoke:
        clients, seconds, args.runs = 50, 1.0, 1
    redis_proc, redis_url = start_redis()
    samples: dict[str, list[dict[str, Any]]] = {}
    try:
        if args.only != "fanout":
            polling(redis_url, args)
        for run in range(args.runs if args.only != "polling" else 0):
            for config in CONFIGS:
                print(f"run {run + 1} · {config}", end=" ", flush=True)
                try:
                    result = run_once(config, redis_url, clients, seconds)
                except Exception as exc:
                    print(f"FAILED: {exc}")
                    continue
                shown = ", ".join(f"{k}={fmt(result.get(k), k)}" for k in FANOUT)
                print(f"{shown} (server cpu {result['server_cpu_total']:.2f} s)", flush=True)
                samples.setdefault(config, []).append(result)
    finally:
        redis_proc.terminate()
        redis_proc.wait()
    if args.only == "polling":
        return 0
    lines = [
        f"Fan-out to {clients} clients in one room, {os.cpu_count()} CPU cores shared by the "
        "load generator, the server processes and Redis (medians).",
        "",
        "| served as | delivered/s | p50 ms | p99 ms | server CPU s |",
        "|---|---:|---:|---:|---:|",
    ]
    medians: dict[str, dict[str, float]] = {}
    for config, results in samples.items():
        medians[config] = {
            key: statistics.median(r[key] for r in results if r.get(key) is not None)
            for key in (*FANOUT, "server_cpu_total")
        }
        m = medians[config]
        cells = [fmt(m[k], k) for k in FANOUT]
        lines.append(f"| {config} | {' | '.join(cells)} | {m['server_cpu_total']:.2f} |")
    markdown = "\n".join(lines)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cluster.md").write_text(markdown + "\n")
    (args.out / "cluster.json").write_text(json.dumps({"samples": samples, "medians": medians}))
    print()
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
