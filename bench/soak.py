"""Soak: the chat under churn and continuous room traffic, with every delivery accounted for.

``python -m bench.soak --clients 1000 --seconds 60`` starts ``python -m roomcast serve`` (the
chat), drives it with tests/node/reliability_clients.js in soak mode (about ``--clients`` users
at any time, each living a few seconds: connect with a JWT, join one or two rooms, send messages
to them, leave, disconnect, replaced by a new user), samples the server's RSS, and writes a
markdown summary to ``bench/results/soak.md``. Exit status 1 if any message was lost,
duplicated, out of order or unexpected.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLIENTS_JS = ROOT / "tests" / "node" / "reliability_clients.js"
RESULT = ROOT / "bench" / "results" / "soak.md"
COUNTS = [
    "connections",
    "refused",
    "sent",
    "delivered",
    "expected",
    "lost",
    "duplicates",
    "outOfOrder",
    "unexpected",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss(pid: int) -> int:
    """Resident set size of ``pid`` in bytes (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as file:
            for line in file:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    return 0


class RssSampler(threading.Thread):
    """Samples a process's RSS every ``interval`` seconds; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.peak = max(self.peak, rss(self.pid))


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the server exited at start-up")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the server did not start listening")


def settle(pid: int, seconds: float = 3.0) -> int:
    """The server's RSS once it has been idle for ``seconds`` (after the clients left)."""
    time.sleep(seconds)
    return rss(pid)


def run(args: argparse.Namespace) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        raise SystemExit("node is required")
    port = free_port()
    secret = secrets.token_urlsafe(48)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "roomcast",
            "serve",
            "--port",
            str(port),
            "--jwt-secret",
            secret,
            "--log-level",
            "warning",
            *args.serve_arg,
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_listening(port, server)
        time.sleep(0.5)
        start = rss(server.pid)
        sampler = RssSampler(server.pid)
        sampler.start()
        options = {
            "mode": "soak",
            "url": f"http://127.0.0.1:{port}",
            "clients": args.clients,
            "seconds": args.seconds,
            "secret": secret,
            "rate": args.rate,
            "rooms": max(1, args.clients // args.room_size),
            "life": [args.life_min, args.life_max],
        }
        rounds = []
        for _ in range(args.rounds):
            began = time.monotonic()
            try:
                load = subprocess.run(
                    [node, str(CLIENTS_JS), json.dumps(options)],
                    cwd=ROOT,
                    capture_output=True,
                    timeout=args.seconds + 120,
                )
            except subprocess.TimeoutExpired as exc:
                tail = (exc.stderr or b"").decode()[-3000:]
                raise SystemExit(f"the load generator did not finish: {tail}") from None
            elapsed = time.monotonic() - began
            if load.returncode != 0:
                raise SystemExit(f"load generator failed: {load.stderr.decode()[-2000:]}")
            figures = json.loads(load.stdout.decode().strip().splitlines()[-1])
            figures.update(elapsed=round(elapsed, 1), rss_end=settle(server.pid))
            rounds.append(figures)
        sampler.stopped.set()
        sampler.join()
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        result: dict[str, Any] = {key: sum(r[key] for r in rounds) for key in COUNTS}
        result.update(
            peak=max(r["peak"] for r in rounds),
            errors=[e for r in rounds for e in r["errors"]],
            clients=args.clients,
            seconds=args.seconds,
            rate=args.rate,
            rooms=options["rooms"],
            life=options["life"],
            rss_start=start,
            rss_peak=max(sampler.peak, start, *(r["rss_end"] for r in rounds)),
            rss_ends=[r["rss_end"] for r in rounds],
            rounds=rounds,
        )
        return result
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def markdown(r: dict[str, Any]) -> str:
    ok = not (r["lost"] or r["duplicates"] or r["outOfOrder"] or r["unexpected"] or r["errors"])
    verdict = "passed" if ok else "FAILED"
    rounds = len(r["rss_ends"])
    return "\n".join(
        [
            f"### Soak: {r['clients']:,} clients, {rounds} x {r['seconds']} s: {verdict}",
            "",
            f"`python -m bench.soak --clients {r['clients']} --seconds {r['seconds']} "
            f"--rounds {rounds}` against "
            "`python -m roomcast serve` (the chat): about "
            f"{r['clients']:,} users at any time, each living {r['life'][0]}-{r['life'][1]} s "
            f"(connect with a JWT, join 1 or 2 of {r['rooms']} rooms, send ~{r['rate']} "
            "messages/s to each, leave, disconnect), replaced at once by a new user.",
            "",
            "| figure | value |",
            "|---|---|",
            f"| connections made (churn) | {r['connections']:,} |",
            f"| connections held at once (peak) | {r['peak']:,} |",
            f"| connections refused | {r['refused']:,} |",
            f"| messages sent | {r['sent']:,} |",
            f"| deliveries received | {r['delivered']:,} |",
            f"| deliveries due (must arrive) | {r['expected']:,} |",
            f"| lost | {r['lost']} |",
            f"| duplicated | {r['duplicates']} |",
            f"| out of order | {r['outOfOrder']} |",
            f"| unexpected | {r['unexpected']} |",
            f"| server RSS at start | {mib(r['rss_start'])} |",
            f"| server RSS peak | {mib(r['rss_peak'])} |",
            *(
                f"| server RSS after round {n} (its clients gone) | {mib(size)} |"
                for n, size in enumerate(r["rss_ends"], 1)
            ),
            "",
            "Due: sent after the receiver's join was acknowledged and acknowledged before the "
            "receiver asked to leave; a delivery outside the window where it may arrive counts "
            "as unexpected. Each round runs the whole load again against the same server "
            f"({rounds} rounds of {r['seconds']} s): CPython keeps the memory it "
            "took at the peak for reuse, so RSS after the clients leave stays near the peak; a "
            "leak would make it grow from one round to the next.",
            "",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--rate", type=float, default=1.0, help="messages/s per client per room")
    parser.add_argument("--room-size", type=int, default=10, help="clients per room on average")
    parser.add_argument("--life-min", type=float, default=5.0)
    parser.add_argument("--life-max", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2, help="the whole load, again and again")
    parser.add_argument("--output", type=Path, default=RESULT)
    parser.add_argument(
        "--serve-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="one more argument of `roomcast serve` (repeat), e.g. --serve-arg=--gc-threshold=0",
    )
    args = parser.parse_args()
    result = run(args)
    text = markdown(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)
    print(json.dumps(result), file=sys.stderr)
    failed = result["lost"] or result["duplicates"] or result["outOfOrder"]
    return 1 if failed or result["unexpected"] or result["errors"] else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
