"""``python -m bench.metrics --smoke``: the metrics on/off pair runs, scrapes, and reports both
rows (it measures nothing at that size and asserts no speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_metrics_pair_runs_and_scrapes(node: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.metrics", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    samples = json.loads((tmp_path / "metrics.json").read_text())["samples"]
    assert samples["metrics off"][0]["scrapes"] == 0
    assert samples["metrics on"][0]["scrapes"] >= 1
    for config in ("metrics off", "metrics on"):
        assert samples[config][0]["delivered_per_s"] > 0
    table = (tmp_path / "metrics.md").read_text()
    assert "| metrics off |" in table and "| metrics on |" in table
