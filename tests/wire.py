"""Values between the Python tests and the Node scripts: JSON, bytes as ``{"$bin": base64}``."""

from __future__ import annotations

import base64
from typing import Any


def to_json(value: Any) -> Any:
    """A JSON-able copy of ``value`` with bytes-like values as ``{"$bin": base64}``."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bin": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    return value


def from_json(value: Any) -> Any:
    """The inverse of :func:`to_json`."""
    if isinstance(value, list):
        return [from_json(item) for item in value]
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("$bin"), str):
            return base64.b64decode(value["$bin"])
        return {key: from_json(item) for key, item in value.items()}
    return value
