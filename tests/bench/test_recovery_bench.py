"""``python -m bench.recovery --smoke``: the restart-and-reconnect benchmark at 10 clients.

It measures nothing and asserts no time: it fails when the bench cannot run, lacks a figure of its
table, or stops measuring what it claims (every client must come back, recovered with every missed
message where the server can recover it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_recovery_bench_runs_at_tiny_size_on_both_servers(node: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.recovery", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    samples = json.loads((tmp_path / "recovery.json").read_text())["samples"]
    expected = {
        # (recovered, new socket): a graceful stop saves every session on both servers; after a
        # SIGKILL only roomcast's live sessions in Redis are left (Node saves none)
        "roomcast/term": (10, 0),
        "roomcast/kill": (10, 0),
        "node/term": (10, 0),
        "node/kill": (0, 10),
    }
    for config, (recovered, fresh) in expected.items():
        [result] = samples[config]
        assert (result["recovered"], result["fresh"]) == (recovered, fresh), (config, result)
        assert result["failed"] == 0 and result["incomplete"] == 0, (config, result)
        assert result["with_offset"] == 10, (config, result)
        assert len(result["done_ms"]) == 10, (config, result)
        assert isinstance(result["cpu_b_s"], float), config
        if recovered:
            assert isinstance(result["complete_p99_ms"], float), config
    table = (tmp_path / "recovery.md").read_text()
    assert "| roomcast | SIGKILL | 10 | 0 |" in table
    assert "| Node socket.io 4.8 | SIGKILL | 0 | 10 |" in table
