"""``python -m bench --smoke``: one tiny run of every scenario against roomcast, every figure there.

It measures nothing (tiny loads, a fraction of a second each) and asserts no speed: it fails when a
scenario cannot run or does not report a figure the benchmark table needs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.suite import SCENARIOS

ROOT = Path(__file__).resolve().parent.parent.parent


def test_every_scenario_runs_and_reports_every_figure(node: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    medians = json.loads((tmp_path / "latest.json").read_text())["medians"]
    for scenario in SCENARIOS:
        figures = medians[scenario.name]["roomcast"]
        for metric in (*scenario.metrics, "server_cpu", "loadgen_cpu"):
            assert isinstance(figures.get(metric), int | float), (scenario.name, metric)
    table = (tmp_path / "latest.md").read_text()
    assert all(f"| {scenario.name} |" in table for scenario in SCENARIOS)
