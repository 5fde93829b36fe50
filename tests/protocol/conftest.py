"""Helpers for the protocol tests: the Node reference parser as an oracle."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

ORACLE = Path(__file__).with_name("parser_oracle.js")


def run_oracle(node: str, encode: list[Any], decode: list[list[Any]]) -> dict[str, Any]:
    """Run socket.io-parser once on a whole batch (see parser_oracle.js for the format)."""
    request = json.dumps({"encode": encode, "decode": decode})
    result = subprocess.run(
        [node, str(ORACLE)], input=request, capture_output=True, text=True, timeout=60, check=True
    )
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer
