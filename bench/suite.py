"""The benchmark suite: every scenario against roomcast and its baselines, in one sitting.

Each run starts a fresh server process pinned to core 0 and the load generator
(``bench/loadgen.js``) pinned to core 1, so the two never share a core; the generator reports
its own CPU and the server's next to every figure. Runs are interleaved across servers (run 1 of
every server, then run 2, ...) so that a noisy neighbour hurts all of them alike, and the table
shows medians and roomcast's ratio to each baseline. Every scenario names its regime (REGIMES):
bursts measure throughput, one-at-a-time broadcasts measure latency, paced loads measure CPU.
The chat scenarios run the chat of ``roomcast serve`` (JWT at every handshake) and its
equivalents in bench/servers/ on every server.

``--smoke`` runs every scenario once, tiny, against roomcast only, and fails when a scenario does
not run or lacks a figure of the table (tests/bench runs it in the test suite).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
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
    """How to start one server under test on a given port: with the bench app or with the chat."""

    name: str
    argv: tuple[str, ...]
    chat_argv: tuple[str, ...]
    variant: bool = False
    """A variant of another server (e.g. an option turned on): it runs only the scenarios
    that name it in their ``variants``."""
    only: frozenset[str] | None = None
    """The scenarios this server runs (``None``: all)."""

    def command(self, port: int, chat: bool = False) -> list[str]:
        return [*(self.chat_argv if chat else self.argv), str(port)]


SERVERS = {
    "roomcast": ServerSpec(
        "roomcast",
        (PYTHON, str(BENCH / "servers" / "roomcast_app.py")),
        # the chat as a user runs it: `roomcast serve` (JWT secret from $ROOMCAST_JWT_SECRET)
        (PYTHON, "-m", "roomcast", "serve", "--host", "127.0.0.1", "--port"),
    ),
    "node": ServerSpec(
        "Node socket.io 4.8",
        ("node", str(BENCH / "servers" / "node_socketio.js")),
        ("node", str(BENCH / "servers" / "node_chat.js")),
    ),
    "pysio": ServerSpec(
        "python-socketio",
        (PYTHON, str(BENCH / "servers" / "pysio.py")),
        (PYTHON, str(BENCH / "servers" / "pysio_chat.py")),
    ),
    # ASGI mode: the same app under the same uvicorn (uvloop, httptools, websockets-sansio);
    # the scenarios of issue #15 only (no chat app)
    "roomcast-asgi": ServerSpec(
        "roomcast ASGI (uvicorn)",
        (PYTHON, str(BENCH / "servers" / "asgi_app.py"), "roomcast"),
        (),
        only=frozenset({"fanout-1000", "ack-50", "polling-handshakes", "idle-10000"}),
    ),
    "pysio-asgi": ServerSpec(
        "python-socketio ASGI (uvicorn)",
        (PYTHON, str(BENCH / "servers" / "asgi_app.py"), "pysio"),
        (),
        only=frozenset({"fanout-1000", "ack-50", "polling-handshakes", "idle-10000"}),
    ),
    "relay": ServerSpec(
        "websockets relay",
        (PYTHON, str(BENCH / "servers" / "ws_relay.py")),
        (PYTHON, str(BENCH / "servers" / "relay_chat.py")),
    ),
    "roomcast-recovery": ServerSpec(
        "roomcast + recovery",
        (PYTHON, str(BENCH / "servers" / "roomcast_app.py"), "--recovery"),
        (PYTHON, "-m", "roomcast", "serve", "--host", "127.0.0.1", "--port"),
        variant=True,
    ),
}

# What each kind of load measures; the table names the regime of every row.
REGIMES = {
    "burst": "64 broadcasts in flight, each new one sent as soon as one has reached everyone: "
    "throughput. Its latency is queueing (Little's law: latency = 64 / broadcast rate), so it "
    "restates the rate and gets no ratio of its own",
    "one at a time": "one broadcast in flight, the next sent when it has reached everyone: the "
    "latency of a broadcast without queueing",
    "paced": "the same fixed offered load for every server: server CPU and latency at that "
    "load; a server that delivers under 95% of it fell behind (‡)",
    "closed loop": "a fixed number of acked requests in flight: round trips per second",
    "connect": "clients connecting as fast as the server accepts them: handshakes per second, "
    "then the memory of the idle connections",
}


@dataclass(frozen=True)
class Scenario:
    """One load: the generator's options and the figures it reports that go in the table.

    ``quick`` and ``smoke`` override ``options`` for ``--quick`` and ``--smoke`` runs.
    """

    name: str
    regime: str
    options: dict[str, Any]
    metrics: tuple[str, ...]
    quick: dict[str, Any] = field(default_factory=dict)
    smoke: dict[str, Any] = field(default_factory=dict)
    skip: frozenset[str] = frozenset()
    variants: frozenset[str] = frozenset()

    def runs_on(self, server: str) -> bool:
        """Whether this scenario runs against ``server``."""
        if server in self.skip:
            return False
        spec = SERVERS[server]
        if spec.only is not None and self.name not in spec.only:
            return False
        return not spec.variant or server in self.variants

    @property
    def work(self) -> str:
        """The rate of the unit of work that server CPU is compared per (on the cpu rows)."""
        kind = self.options["scenario"]
        if kind == "ack":
            return "round_trips_per_s"
        return "handshakes_per_s" if kind in ("idle", "polling") else "delivered_per_s"

    @property
    def chat(self) -> bool:
        """Whether the servers run the chat (JWT at the handshake) instead of the bench app."""
        return bool(self.options.get("chat"))


FANOUT = ("delivered_per_s", "p50_ms", "p99_ms")
# per delivery, then until the last receiver had it (the broadcast's rate would restate these)
ONE_AT_A_TIME = ("p50_ms", "p99_ms", "reach_all_p50_ms", "reach_all_p99_ms")
ACK = ("round_trips_per_s", "p99_ms")
CONNECT = ("handshakes_per_s", "rss_per_conn_kib")
CHAT = ("delivered_per_s", "cpu_ms_per_1k", "p50_ms", "p99_ms", "server_rss_mib")
SMOKE_FANOUT = {"clients": 5}
# The realistic chat: 10,000 users in rooms of 10, one message every 5 s each; the warm-up lets
# every client's first message go out before the measured window.
REALISTIC_CHAT = {"scenario": "chat", "chat": True, "roomSize": 10, "interval": 5}
SMOKE_CHAT = {"clients": 30, "interval": 0.2, "warmup": 0.3}


def _fanout(name: str, clients: int, window: int, regime: str, **extra: Any) -> Scenario:
    options = {"scenario": "fanout", "clients": clients, "window": window, **extra}
    quick = {"clients": 2000} if clients > 2000 else {}
    metrics = FANOUT if regime == "burst" else ONE_AT_A_TIME
    return Scenario(name, regime, options, metrics, quick=quick, smoke=SMOKE_FANOUT)


SCENARIOS = [
    *(_fanout(f"fanout-{n}", n, 64, "burst") for n in (100, 1000, 5000)),
    *(_fanout(f"oneshot-{n}", n, 1, "one at a time") for n in (100, 1000, 5000)),
    Scenario(
        "paced-1000",
        "paced",
        {"scenario": "fanout", "clients": 1000, "rate": 20000},
        FANOUT,
        smoke={"clients": 5, "rate": 500},
    ),
    Scenario(
        "ack-1",
        "closed loop",
        {"scenario": "ack", "clients": 1, "inflight": 1},
        ACK,
    ),
    Scenario(
        "ack-50",
        "closed loop",
        {"scenario": "ack", "clients": 1, "inflight": 50},
        ACK,
    ),
    # the same loads with socket.io-msgpack-parser on both ends (`Server(parser="msgpack")`)
    Scenario(
        "msgpack-fanout-1000",
        "burst",
        {"scenario": "fanout", "clients": 1000, "window": 64, "parser": "msgpack"},
        FANOUT,
        smoke=SMOKE_FANOUT,
        skip=frozenset({"relay"}),  # the bare relay speaks JSON only
    ),
    Scenario(
        "msgpack-ack-50",
        "closed loop",
        {"scenario": "ack", "clients": 1, "inflight": 50, "parser": "msgpack"},
        ACK,
        skip=frozenset({"relay"}),
    ),
    Scenario(
        "idle-10000",
        "connect",
        {"scenario": "idle", "clients": 10000},
        CONNECT,
        quick={"clients": 2000},
        smoke={"clients": 20},
    ),
    Scenario(
        "polling-handshakes",
        "connect",
        {"scenario": "polling", "clients": 20000, "concurrency": 50},
        ("handshakes_per_s",),
        quick={"clients": 4000},
        smoke={"clients": 50, "concurrency": 5},
        skip=frozenset({"relay"}),  # the bare relay speaks WebSocket only
    ),
    Scenario(
        "chat-10000",
        "paced",
        {**REALISTIC_CHAT, "clients": 10000, "seconds": 10, "warmup": 6},
        CHAT,
        quick={"clients": 2000, "seconds": 5, "warmup": 6},
        smoke=SMOKE_CHAT,
    ),
    Scenario(
        "chat-fanout-1000",
        "burst",
        {"scenario": "fanout", "chat": True, "clients": 1000, "window": 64},
        FANOUT,
        smoke=SMOKE_FANOUT,
    ),
    Scenario(
        "chat-oneshot-1000",
        "one at a time",
        {"scenario": "fanout", "chat": True, "clients": 1000, "window": 1},
        ONE_AT_A_TIME,
        smoke=SMOKE_FANOUT,
    ),
    Scenario(
        "chat-ack-50",
        "closed loop",
        {"scenario": "ack", "chat": True, "clients": 1, "inflight": 50},
        ACK,
    ),
    Scenario(
        "chat-handshakes-10000",
        "connect",
        {"scenario": "idle", "chat": True, "clients": 10000},
        CONNECT,
        quick={"clients": 2000},
        smoke={"clients": 20},
    ),
    # the cost of connection state recovery (an offset and a kept copy per broadcast) on
    # fan-out: roomcast with it off and on, side by side
    Scenario(
        "recovery-fanout-1000",
        "burst",
        {"scenario": "fanout", "clients": 1000, "window": 64},
        FANOUT,
        quick={"clients": 500},
        smoke=SMOKE_FANOUT,
        skip=frozenset({"node", "pysio", "relay"}),
        variants=frozenset({"roomcast-recovery"}),
    ),
]

Medians = dict[str, dict[str, dict[str, float | None]]]

# Higher is better for rates; lower is better for latencies, CPU and memory.
LOWER_IS_BETTER = {
    "p50_ms",
    "p99_ms",
    "reach_all_p50_ms",
    "reach_all_p99_ms",
    "rss_per_conn_kib",
    "server_rss_mib",
    "cpu_ms_per_1k",
    "server_cpu",
}
LATENCY = {"p50_ms", "p99_ms", "reach_all_p50_ms", "reach_all_p99_ms"}
# Above this share of its core, the load generator may be what limits a figure.
LOADGEN_BOUND = 0.90
# Under this share of the deliveries a paced load asked for, the server did not keep up.
KEPT_UP = 0.95
# Run lengths (seconds) of a full run, --quick and --smoke, unless a scenario sets its own.
TIMING = {
    "full": {"seconds": 5, "warmup": 1},
    "quick": {"seconds": 2, "warmup": 0.5},
    # minSamples: the window stays open until a latency sample came in, however busy the machine
    "smoke": {"seconds": 0.3, "warmup": 0.1, "hold": 0.1, "minSamples": 1},
}


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


def scenario_options(
    scenario: Scenario, mode: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The generator's options for one run of ``scenario`` in ``mode`` (full, quick or smoke),
    then ``overrides`` (``--set``)."""
    options: dict[str, Any] = {**TIMING["full"], **scenario.options}
    if mode != "full":
        options.update(TIMING[mode])
        options.update(scenario.quick if mode == "quick" else scenario.smoke)
    options.update(overrides or {})
    return options


def run_once(
    spec: ServerSpec,
    scenario: Scenario,
    mode: str,
    log: Path,
    secret: str,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Start ``spec``'s server (the chat when ``scenario`` needs it), run the generator once."""
    port = free_port()
    env = {**os.environ, "ROOMCAST_JWT_SECRET": secret}
    env["BENCH_PARSER"] = scenario.options.get("parser", "json")
    with log.open("ab") as err:
        server = subprocess.Popen(
            pin(0) + spec.command(port, chat=scenario.chat),
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=ROOT,
            env=env,
            preexec_fn=raise_fd_limit,
        )
        try:
            wait_for_port(port, server)
            options: dict[str, Any] = {"port": port, "serverPid": server.pid}
            options.update(scenario_options(scenario, mode, overrides))
            if scenario.chat:
                options["jwtSecret"] = secret
            return run_loadgen(options, pin(1), timeout=60 if mode == "smoke" else 300)
        finally:
            stop(server, timeout=10)


def run_loadgen(
    options: dict[str, Any], prefix: Sequence[str] = (), timeout: float = 300
) -> dict[str, Any]:
    """Run ``bench/loadgen.js`` once with ``options`` (``prefix``: e.g. a taskset command)."""
    done = subprocess.run(
        [*prefix, "node", str(BENCH / "loadgen.js"), json.dumps(options)],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=raise_fd_limit,
        check=False,
    )
    if done.returncode != 0:
        # the first line names the error ("loadgen: ReferenceError: ..."); the rest is its stack
        raise RuntimeError(
            done.stderr.strip().splitlines()[0] if done.stderr.strip() else "loadgen failed"
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


def fell_behind(figures: dict[str, float | None]) -> bool:
    """Whether a paced load was not kept up with: under ``KEPT_UP`` of the offered deliveries."""
    delivered, offered = figures.get("delivered_per_s"), figures.get("offered_per_s")
    return delivered is not None and bool(offered) and delivered < KEPT_UP * (offered or 0)


def cpu_per_work(figures: dict[str, float | None], work: str) -> float | None:
    """Server CPU seconds per unit of work (a delivered message, a round trip, a handshake)."""
    server_cpu, rate = figures.get("server_cpu"), figures.get(work)
    return server_cpu / rate if server_cpu and rate else None


def loadgen_bound(figures: dict[str, float | None]) -> bool:
    """Whether the load generator was above ``LOADGEN_BOUND`` of its core in these figures."""
    loadgen_cpu = figures.get("loadgen_cpu")
    return loadgen_cpu is not None and loadgen_cpu > LOADGEN_BOUND


def marked(ratio_text: str, *marks: str) -> str:
    """A ratio with every mark (†, ‡) of the figures it compares."""
    if ratio_text == "-":
        return ratio_text
    return ratio_text + "".join(f" {m}" for m in "†‡" if any(m in mark for mark in marks))


def table(medians: Medians, servers: Sequence[str]) -> str:
    """The markdown table: a row per figure, server CPU under each scenario, ratios to roomcast
    (on the cpu row: of server CPU per unit of work).

    A figure measured while the load generator was above 90% CPU is marked †, one of a server
    that fell behind a paced load ‡, and so is any ratio they enter. Latency in a burst scenario
    gets no ratio: it restates the throughput.
    """
    head = ["scenario", "regime", "metric", *(SERVERS[s].name for s in servers)]
    others = [s for s in servers if s != "roomcast"]
    if "roomcast" in servers:
        head += [f"vs {SERVERS[s].name}" for s in others]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for scenario in SCENARIOS:
        if scenario.name not in medians:
            continue
        figures = {s: medians[scenario.name].get(s, {}) for s in servers}
        bound = {s: loadgen_bound(figures[s]) for s in servers}
        behind = {s: scenario.regime == "paced" and fell_behind(figures[s]) for s in servers}
        mark = {s: " †" * bound[s] + " ‡" * behind[s] for s in servers}

        for metric in scenario.metrics:
            row = [scenario.name, scenario.regime, metric]
            values = {s: figures[s].get(metric) for s in servers}
            row += [
                fmt(values[s], metric) + (mark[s] if values[s] is not None else "") for s in servers
            ]
            if "roomcast" in servers:
                for s in others:
                    if scenario.regime == "burst" and metric in LATENCY:
                        row.append("(queueing)")
                        continue
                    ours, theirs = values["roomcast"], values[s]
                    row.append(marked(ratio(ours, theirs, metric), mark["roomcast"], mark[s]))
            lines.append("| " + " | ".join(row) + " |")
        # whether a figure is the server's or the generator's limit: CPU seconds per second; the
        # ratio compares server CPU per unit of work (>1.00x: roomcast used less)
        row = [scenario.name, scenario.regime, "cpu: server / loadgen"]
        for s in servers:
            server_cpu, loadgen_cpu = figures[s].get("server_cpu"), figures[s].get("loadgen_cpu")
            if server_cpu is None or loadgen_cpu is None:
                row.append("-")
            else:
                row.append(f"{server_cpu:.2f} / {loadgen_cpu:.2f}{mark[s]}")
        if "roomcast" in servers:
            ours = cpu_per_work(figures["roomcast"], scenario.work)
            for s in others:
                theirs = cpu_per_work(figures[s], scenario.work)
                row.append(marked(ratio(ours, theirs, "server_cpu"), mark["roomcast"], mark[s]))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def header(
    runs: int, mode: str, scenarios: Sequence[Scenario], overrides: dict[str, Any] | None = None
) -> str:
    """When and where the table was measured, and how to read it."""
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    flag = "" if mode == "full" else f" --{mode}"
    flag += "".join(f" --set {k}={json.dumps(v)}" for k, v in (overrides or {}).items())
    regimes = []
    for regime, meaning in REGIMES.items():
        if any(s.regime == regime for s in scenarios):
            regimes.append(f"- **{regime}**: {meaning}.")
    return (
        f"`python -m bench{flag}`, {time.strftime('%Y-%m-%d')}: medians of {runs} interleaved "
        f"runs on {os.cpu_count()} x {cpu}, server pinned to core 0, load generator to core 1. "
        "Ratios: >1.00x means roomcast is better; on the cpu rows the ratio is of server CPU per "
        "unit of work (delivered message, round trip or handshake), >1.00x: roomcast used less. "
        "† the load generator was above 90% of its core: the figure, and any ratio it enters, "
        "may be the generator's limit rather than the server's. ‡ the server delivered under "
        "95% of a paced load: it fell behind, and its latency is queueing. cpu_ms_per_1k: "
        "server CPU milliseconds per 1,000 delivered messages. Regimes:\n\n"
        + "\n".join(regimes)
        + "\n\n"
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


def missing_figures(scenario: Scenario, result: dict[str, Any]) -> list[str]:
    """The figures the table needs from ``result`` that are absent or not finite numbers."""
    missing = []
    for key in (*scenario.metrics, "server_cpu", "loadgen_cpu"):
        value = result.get(key)
        if not isinstance(value, int | float) or not math.isfinite(value):
            missing.append(key)
    return missing


def run_problem(scenario: Scenario, result: dict[str, Any], mode: str) -> str | None:
    """What is wrong with one run's ``result``, or None. A server that fell behind a paced load
    so far that it delivered nothing measurable has no latency: a figure of the sitting (‡),
    not a broken scenario, but in a smoke run (roomcast alone, a tiny load) it is one."""
    missing = missing_figures(scenario, result)
    if not missing:
        return None
    if mode != "smoke" and fell_behind(result):  # it has a delivered rate, then
        return None
    return f"no {', '.join(missing)}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--servers",
        help="comma-separated: " + ",".join(SERVERS) + " (default: all; roomcast with --smoke)",
    )
    parser.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS))
    parser.add_argument(
        "--runs", type=int, help="runs per server and scenario (median reported; default 3)"
    )
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument(
        "--quick", action="store_true", help="shorter runs and smaller loads, for a first look"
    )
    modes.add_argument(
        "--smoke",
        action="store_true",
        help="one tiny run of every scenario (roomcast only unless --servers): checks that each "
        "runs and reports every figure of the table, and fails if not; measures nothing",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a load generator option (a JSON value) in every run, e.g. clients=200 "
        "(see bench/loadgen.js)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="where the results go (default: bench/results; --smoke: a temp dir)",
    )
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set {item}: give KEY=VALUE")
        try:
            overrides[key] = json.loads(value)
        except ValueError:
            overrides[key] = value
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    servers = [
        s
        for s in (args.servers or ("roomcast" if args.smoke else ",".join(SERVERS))).split(",")
        if s
    ]
    unknown = [s for s in servers if s not in SERVERS]
    wanted = [s for s in args.scenarios.split(",") if s]
    unknown += [s for s in wanted if s not in {sc.name for sc in SCENARIOS}]
    if unknown:
        parser.error(f"unknown server or scenario: {', '.join(unknown)}")
    scenarios = [s for s in SCENARIOS if s.name in wanted]
    runs = args.runs or (1 if args.smoke else 3)
    out: Path = args.out or (
        Path(tempfile.mkdtemp(prefix="roomcast-bench-")) if args.smoke else BENCH / "results"
    )
    out.mkdir(parents=True, exist_ok=True)
    log = out / "servers.log"
    log.write_bytes(b"")
    secret = secrets.token_urlsafe(32)  # the chat servers' JWT secret for this sitting

    samples: dict[str, dict[str, list[dict[str, Any]]]] = {}
    problems: list[str] = []
    total = sum(len([s for s in servers if sc.runs_on(s)]) for sc in scenarios) * runs
    step = 0
    for scenario in scenarios:
        for run in range(runs):
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
                    result = run_once(SERVERS[server], scenario, mode, log, secret, overrides)
                except Exception as exc:  # a failing server is reported, not fatal to the suite
                    print(f"FAILED: {exc}")
                    problems.append(f"{scenario.name} · {server}: {exc}")
                    continue
                shown = ", ".join(f"{k}={fmt(result.get(k), k)}" for k in scenario.metrics)
                print(
                    f"{shown} (server cpu {result.get('server_cpu') or 0:.2f}, "
                    f"loadgen cpu {result.get('loadgen_cpu') or 0:.2f})"
                )
                problem = run_problem(scenario, result, mode)
                if problem is not None:
                    problems.append(f"{scenario.name} · {server}: {problem}")
                samples.setdefault(scenario.name, {}).setdefault(server, []).append(result)

    medians: Medians = {}
    for scenario_name, per_server in samples.items():
        for server, results in per_server.items():
            keys = {k for r in results for k, v in r.items() if isinstance(v, int | float)}
            medians.setdefault(scenario_name, {})[server] = {
                k: statistics.median(r[k] for r in results if r.get(k) is not None) for k in keys
            }
    markdown = table(medians, servers)
    (out / "latest.md").write_text(header(runs, mode, scenarios, overrides) + markdown + "\n")
    (out / "latest.json").write_text(json.dumps({"samples": samples, "medians": medians}, indent=1))
    plotted = mode != "smoke" and plot(medians, servers, out / "fanout.png")
    print()
    print(markdown)
    print(f"\nwritten: {out / 'latest.md'}" + (f", {out / 'fanout.png'}" if plotted else ""))
    if mode != "smoke" and not plotted:
        print(f"not drawn: {out / 'fanout.png'} (matplotlib: pip install -e '.[bench]')")
    if problems:
        print("\nproblems:\n" + "\n".join(f"  {p}" for p in problems))
        return 1
    return 0
