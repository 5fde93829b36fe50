"""Helpers for the protocol tests: the Node reference parser as an oracle, and value conversions."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

ORACLE = Path(__file__).with_name("parser_oracle.js")


def to_wire_json(value: Any) -> Any:
    """A JSON-able copy of ``value`` with bytes-like values as ``{"$bin": base64}``."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bin": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, list | tuple):
        return [to_wire_json(item) for item in value]
    if isinstance(value, dict):
        return {key: to_wire_json(item) for key, item in value.items()}
    return value


def from_wire_json(value: Any) -> Any:
    """The inverse of :func:`to_wire_json`."""
    if isinstance(value, list):
        return [from_wire_json(item) for item in value]
    if isinstance(value, dict):
        if set(value) == {"$bin"}:
            return base64.b64decode(value["$bin"])
        return {key: from_wire_json(item) for key, item in value.items()}
    return value


def run_oracle(node: str, encode: list[Any], decode: list[list[Any]]) -> dict[str, Any]:
    """Run socket.io-parser once on a whole batch (see parser_oracle.js for the format)."""
    request = json.dumps({"encode": encode, "decode": decode})
    result = subprocess.run(
        [node, str(ORACLE)], input=request, capture_output=True, text=True, timeout=60, check=True
    )
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer
