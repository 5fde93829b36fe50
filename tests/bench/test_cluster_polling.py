"""``python -m bench.cluster --smoke --only polling``: long-polling through HAProxy with roomcast
forwarding and with sticky cookies, and one forwarded hop, in one tiny run.

It measures nothing (a second per setup) and asserts no speed: it fails when a setup cannot run
or a figure of the README's table is missing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
FIGURES = ("handshakes/s", "handshake p50 ms", "round trips/s", "round trip p50 ms")


def test_the_load_balancer_bench_runs_and_reports_every_figure(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "bench.cluster", "--smoke", "--only", "polling"]
    done = subprocess.run(
        [*argv, "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    results = json.loads((tmp_path / "cluster-polling.json").read_text())
    for setup in ("round-robin + forwarding", "HAProxy sticky cookie"):
        assert all(results[setup][figure] > 0 for figure in FIGURES), results[setup]
    hop = results["one hop (no load balancer)"]
    assert hop["direct p50 ms"] > 0 and hop["forwarded p50 ms"] > 0
    table = (tmp_path / "cluster-polling.md").read_text()
    assert "| round-robin + forwarding |" in table and "One forwarded hop" in table
