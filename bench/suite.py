"""The benchmark suite: every scenario against roomcast and its baselines, in one sitting.

Each run starts a fresh server process pinned to core 0 and the load generator
(``bench/loadgen.js``) pinned to core 1, so the two never share a core; the generator reports
its own CPU and the server's next to every figure. Runs are interleaved across servers (run 1 of
every server, then run 2, ...) so that a noisy neighbour hurts all of them alike, and the table
shows medians and roomcast's ratio to each baseline.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = sys.executable


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server under test on a given port."""

    name: str
    argv: tuple[str, ...]
    variant: bool = False
    """A variant of another server (e.g. an option turned on): it runs only the scenarios
    that name it in their ``variants``."""

    def command(self, port: int) -> list[str]:
        return [*self.argv, str(port)]


SERVERS = {
    "roomcast": ServerSpec("roomcast", (PYTHON, str(BENCH / "servers" / "roomcast_app.py"))),
    "node": ServerSpec("Node socket.io 4.8", ("node", str(BENCH / "servers" / "node_socketio.js"))),
    "pysio": ServerSpec("python-socketio", (PYTHON, str(BENCH / "servers" / "pysio.py"))),
    "relay": ServerSpec("websockets relay", (PYTHON, str(BENCH / "servers" / "ws_relay.py"))),
    "roomcast-recovery": ServerSpec(
        "roomcast + recovery",
        (PYTHON, str(BENCH / "servers" / "roomcast_app.py"), "--recovery"),
        variant=True,
    ),
}


@dataclass(frozen=True)
class Scenario:
    """One load: the generator's options and the figures it reports that go in the table."""

    name: str
    options: dict[str, Any]
    metrics: tuple[str, ...]
    quick: dict[str, Any] = field(default_factory=dict)
    skip: frozenset[str] = frozenset()
    variants: frozenset[str] = frozenset()

    def runs_on(self, server: str) -> bool:
        """Whether this scenario runs against ``server``."""
        if server in self.skip:
            return False
        return not SERVERS[server].variant or server in self.variants


FANOUT = ("delivered_per_s", "p50_ms", "p99_ms")
ACK = ("round_trips_per_s", "p99_ms")
SCENARIOS = [
    Scenario(
        "fanout-100",
        {"scenario": "fanout", "clients": 100},
        FANOUT,
    ),
    Scenario(
        "fanout-1000",
        {"scenario": "fanout", "clients": 1000},
        FANOUT,
    ),
    Scenario(
        "fanout-5000",
        {"scenario": "fanout", "clients": 5000},
        FANOUT,
        quick={"clients": 2000},
    ),
    Scenario(
        "paced-1000",
        {"scenario": "fanout", "clients": 1000, "rate": 20000},
        FANOUT,
    ),
    Scenario(
        "ack-1", {"scenario": "ack", "clients": 1, "inflight": 1}, ("round_trips_per_s", "p99_ms")
    ),
    Scenario(
        "ack-50", {"scenario": "ack", "clients": 1, "inflight": 50}, ("round_trips_per_s", "p99_ms")
    ),
    Scenario(
        "idle-10000",
        {"scenario": "idle", "clients": 10000},
        ("handshakes_per_s", "rss_per_conn_kib"),
        quick={"clients": 2000},
    ),
    Scenario(
        "polling-handshakes",
        {"scenario": "polling", "clients": 20000, "concurrency": 50},
        ("handshakes_per_s",),
        quick={"clients": 4000},
        skip=frozenset({"relay"}),  # the bare relay speaks WebSocket only
    ),
    # the cost of connection state recovery (an offset and a kept copy per broadcast) on
    # fan-out: roomcast with it off and on, side by side
    Scenario(
        "recovery-fanout-1000",
        {"scenario": "fanout", "clients": 1000},
        FANOUT,
        quick={"clients": 500},
        skip=frozenset({"node", "pysio", "relay"}),
        variants=frozenset({"roomcast-recovery"}),
    ),
]

Medians = dict[str, dict[str, dict[str, float | None]]]

# Higher is better for rates; lower is better for latencies and memory.
LOWER_IS_BETTER = {"p50_ms", "p99_ms", "rss_per_conn_kib"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not listen on port {port} within {timeout} s")


def pin(core: int) -> list[str]:
    """A taskset prefix that pins a process to one core, when the machine has two or more."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(core)]
    return []


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_once(spec: ServerSpec, scenario: Scenario, quick: bool, log: Path) -> dict[str, Any]:
    port = free_port()
    with log.open("ab") as err:
        server = subprocess.Popen(
            pin(0) + spec.command(port),
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=ROOT,
            preexec_fn=raise_fd_limit,
        )
        try:
            wait_for_port(port, server)
            options: dict[str, Any] = {"port": port, "serverPid": server.pid}
            options.update(seconds=5, warmup=1)
            options.update(scenario.options)
            if quick:
                options.update({"seconds": 2, "warmup": 0.5}, **scenario.quick)
            return run_loadgen(options, pin(1))
        finally:
            stop(server, timeout=10)


def run_loadgen(options: dict[str, Any], prefix: Sequence[str] = ()) -> dict[str, Any]:
    """Run ``bench/loadgen.js`` once with ``options`` (``prefix``: e.g. a taskset command)."""
    done = subprocess.run(
        [*prefix, "node", str(BENCH / "loadgen.js"), json.dumps(options)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=raise_fd_limit,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            done.stderr.strip().splitlines()[-1] if done.stderr else "loadgen failed"
        )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def stop(server: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM a server process; kill it if it has not exited within ``timeout`` seconds."""
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def fmt(value: float | None, metric: str) -> str:
    if value is None:
        return "-"
    if metric.endswith("_per_s"):
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def ratio(ours: float | None, theirs: float | None, metric: str) -> str:
    """roomcast's advantage: >1.00x means roomcast is better, whichever way the metric points."""
    if not ours or not theirs:
        return "-"
    value = theirs / ours if metric in LOWER_IS_BETTER else ours / theirs
    return f"{value:.2f}x"


def table(medians: Medians, servers: Sequence[str]) -> str:
    head = ["scenario", "metric", *(SERVERS[s].name for s in servers)]
    others = [s for s in servers if s != "roomcast"]
    if "roomcast" in servers:
        head += [f"vs {SERVERS[s].name}" for s in others]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for scenario in SCENARIOS:
        if scenario.name not in medians:
            continue
        for metric in scenario.metrics:
            row = [scenario.name, metric]
            values = {s: medians[scenario.name].get(s, {}).get(metric) for s in servers}
            row += [fmt(values[s], metric) for s in servers]
            if "roomcast" in servers:
                row += [ratio(values["roomcast"], values[s], metric) for s in others]
            lines.append("| " + " | ".join(row) + " |")
        # whether a figure is the server's or the generator's limit: CPU seconds per second
        row = [scenario.name, "cpu: server / loadgen"]
        for s in servers:
            figures = medians[scenario.name].get(s, {})
            server_cpu, loadgen_cpu = figures.get("server_cpu"), figures.get("loadgen_cpu")
            shown = "-" if server_cpu is None or loadgen_cpu is None else ""
            row.append(shown or f"{server_cpu:.2f} / {loadgen_cpu:.2f}")
        if "roomcast" in servers:
            row += [""] * len(others)
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def header(runs: int, quick: bool) -> str:
    """When and where the table was measured."""
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"`python -m bench{' --quick' if quick else ''}`, {time.strftime('%Y-%m-%d')}: medians of "
        f"{runs} interleaved runs on {os.cpu_count()} x {cpu}, server pinned to core 0, load "
        "generator to core 1. Ratios: >1.00x means roomcast is better.\n\n"
    )


def plot(
    medians: dict[str, dict[str, dict[str, float | None]]], servers: Sequence[str], out: Path
) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return False
    sizes = [(s.options["clients"], s.name) for s in SCENARIOS if s.name.startswith("fanout-")]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for server in servers:
        xs, ys = [], []
        for size, name in sizes:
            value = medians.get(name, {}).get(server, {}).get("delivered_per_s")
            if value:
                xs.append(size)
                ys.append(value)
        if xs:
            ax.plot(xs, ys, marker="o", label=SERVERS[server].name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_xlabel("clients in the room")
    ax.set_ylabel("delivered messages / s (log scale)")
    ax.set_title("Fan-out to one room (server on one core)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--servers", default=",".join(SERVERS), help="comma-separated: " + ",".join(SERVERS)
    )
    parser.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS))
    parser.add_argument(
        "--runs", type=int, default=3, help="runs per server and scenario (median reported)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="shorter runs and smaller loads, for a smoke test"
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    servers = [s for s in args.servers.split(",") if s]
    wanted = set(args.scenarios.split(","))
    scenarios = [s for s in SCENARIOS if s.name in wanted]
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "servers.log"
    log.write_bytes(b"")

    samples: dict[str, dict[str, list[dict[str, Any]]]] = {}
    total = sum(len([s for s in servers if sc.runs_on(s)]) for sc in scenarios) * args.runs
    step = 0
    for scenario in scenarios:
        for run in range(args.runs):
            for server in servers:
                if not scenario.runs_on(server):
                    continue
                step += 1
                print(
                    f"[{step}/{total}] {scenario.name} · {server} · run {run + 1}",
                    end=" ",
                    flush=True,
                )
                try:
                    result = run_once(SERVERS[server], scenario, args.quick, log)
                except Exception as exc:  # a failing server is reported, not fatal to the suite
                    print(f"FAILED: {exc}")
                    continue
                shown = ", ".join(f"{k}={fmt(result.get(k), k)}" for k in scenario.metrics)
                print(
                    f"{shown} (server cpu {result.get('server_cpu', 0):.2f}, "
                    f"loadgen cpu {result.get('loadgen_cpu', 0):.2f})"
                )
                samples.setdefault(scenario.name, {}).setdefault(server, []).append(result)

    medians: Medians = {}
    for scenario_name, per_server in samples.items():
        for server, results in per_server.items():
            keys = {k for r in results for k, v in r.items() if isinstance(v, int | float)}
            medians.setdefault(scenario_name, {})[server] = {
                k: statistics.median(r[k] for r in results if r.get(k) is not None) for k in keys
            }
    markdown = table(medians, servers)
    (args.out / "latest.md").write_text(header(args.runs, args.quick) + markdown + "\n")
    (args.out / "latest.json").write_text(
        json.dumps({"samples": samples, "medians": medians}, indent=1)
    )
    plotted = plot(medians, servers, args.out / "fanout.png")
    print()
    print(markdown)
    print(
        f"\nwritten: {args.out / 'latest.md'}" + (f", {args.out / 'fanout.png'}" if plotted else "")
    )
    return 0
