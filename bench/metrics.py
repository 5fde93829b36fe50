"""The cost of ``--metrics``: fan-out to 1,000 clients with the metrics on against off.

Runs the fan-out scenario of ``bench/loadgen.js`` (one sender, C receivers in one room) against
the benchmark app (``bench/servers/roomcast_app.py``) served by ``roomcast serve`` without and
with ``--metrics``, runs interleaved (off, on, off, on...) in the same sitting. With the metrics
on, ``/metrics`` is scraped every second during the run, as a (busy) Prometheus would. The
server is pinned to core 0 and the load generator to core 1, as in the suite. The table shows
the medians and the difference; the goal is under 3 % on delivered/s.

Usage: ``python -m bench.metrics [--clients 1000] [--runs 5] [--quick | --smoke]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.cluster import process_cpu
from bench.suite import (
    BENCH,
    FANOUT,
    PYTHON,
    ROOT,
    fmt,
    free_port,
    pin,
    raise_fd_limit,
    run_loadgen,
    stop,
)

APP = "bench.servers.roomcast_app:io"
CONFIGS = {"metrics off": (), "metrics on": ("--metrics",)}


def _scrape_every(url: str, period: float, done: threading.Event, count: list[int]) -> None:
    while not done.wait(period):
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                response.read()
            count[0] += 1
        except OSError:
            pass


def run_once(config: str, clients: int, seconds: float) -> dict[str, Any]:
    """One fan-out run against the app served as ``config``."""
    port = free_port()
    argv = [PYTHON, "-m", "roomcast", "serve", APP, "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(
        [*pin(0), *argv, *CONFIGS[config]],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        preexec_fn=raise_fd_limit,
    )
    done, scrapes = threading.Event(), [0]
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line.startswith(b"roomcast listening on"):
            raise RuntimeError(f"server did not start: {line!r}")
        if CONFIGS[config]:
            url = f"http://127.0.0.1:{port}/metrics"
            threading.Thread(target=_scrape_every, args=(url, 1.0, done, scrapes)).start()
        cpu0 = process_cpu(server.pid)
        options = {"scenario": "fanout", "port": port, "clients": clients, "seconds": seconds}
        result = run_loadgen({**options, "warmup": 1}, prefix=pin(1))
        result["server_cpu_total"] = process_cpu(server.pid) - cpu0
        result["scrapes"] = scrapes[0]
        return result
    finally:
        done.set()
        stop(server, timeout=20)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics", description=__doc__)
    parser.add_argument("--clients", type=int, default=1000, help="receivers (%(default)s)")
    parser.add_argument("--runs", type=int, default=5, help="runs per config (%(default)s)")
    parser.add_argument("--quick", action="store_true", help="3 s runs, 300 receivers")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="one tiny run of each (checks it runs, measures nothing)",
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    clients, seconds = (300, 3.0) if args.quick else (args.clients, 5.0)
    if args.smoke:
        clients, seconds, args.runs = 5, 1.5, 1
    samples: dict[str, list[dict[str, Any]]] = {}
    for run in range(args.runs):
        for config in CONFIGS:
            print(f"run {run + 1} · {config}", end=" ", flush=True)
            result = run_once(config, clients, seconds)
            shown = ", ".join(f"{k}={fmt(result.get(k), k)}" for k in FANOUT)
            print(f"{shown} (server cpu {result['server_cpu_total']:.2f} s)", flush=True)
            samples.setdefault(config, []).append(result)
    keys = (*FANOUT, "server_cpu_total")
    medians = {
        config: {k: statistics.median(r[k] for r in results if r.get(k) is not None) for k in keys}
        for config, results in samples.items()
    }
    off, on = medians["metrics off"], medians["metrics on"]
    change = (on["delivered_per_s"] - off["delivered_per_s"]) / off["delivered_per_s"] * 100
    lines = [
        f"Fan-out to {clients} clients in one room, metrics off and on (scraped every second), "
        f"{args.runs} interleaved runs each (medians).",
        "",
        "| roomcast serve | delivered/s | p50 ms | p99 ms | server CPU s |",
        "|---|---:|---:|---:|---:|",
    ]
    for config, m in medians.items():
        cells = " | ".join(fmt(m[k], k) for k in FANOUT)
        lines.append(f"| {config} | {cells} | {m['server_cpu_total']:.2f} |")
    lines += ["", f"delivered/s with metrics on: {change:+.1f} % (goal: within 3 %)"]
    markdown = "\n".join(lines)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.md").write_text(markdown + "\n")
    (args.out / "metrics.json").write_text(json.dumps({"samples": samples, "medians": medians}))
    print()
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
