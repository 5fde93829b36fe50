"""Binary attachments: bytes-like values anywhere in a payload travel as numbered placeholders.

``deconstruct`` swaps every ``bytes``/``bytearray``/``memoryview`` for
``{"_placeholder": True, "num": N}`` (depth first, in list and dict order) and returns the buffers;
``reconstruct`` puts the buffers back in the place of the placeholders.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import InvalidPlaceholder

__all__ = ["BINARY_TYPES", "deconstruct", "has_binary", "reconstruct"]

BINARY_TYPES = (bytes, bytearray, memoryview)
"""The Python types sent as binary attachments."""


def has_binary(obj: Any) -> bool:
    """Whether a bytes-like value appears anywhere in ``obj`` (nested in lists, tuples, dicts)."""
    if isinstance(obj, list | tuple):
        return any(has_binary(item) for item in obj)
    if isinstance(obj, dict):
        return any(has_binary(item) for item in obj.values())
    return isinstance(obj, BINARY_TYPES)


def _deconstruct(obj: Any, buffers: list[bytes]) -> Any:
    if isinstance(obj, BINARY_TYPES):
        placeholder = {"_placeholder": True, "num": len(buffers)}
        buffers.append(obj if type(obj) is bytes else bytes(obj))
        return placeholder
    if isinstance(obj, list | tuple):
        return [_deconstruct(item, buffers) for item in obj]
    if isinstance(obj, dict):
        return {key: _deconstruct(value, buffers) for key, value in obj.items()}
    return obj


def deconstruct(data: Any) -> tuple[Any, list[bytes]]:
    """Return a copy of ``data`` with placeholders for its bytes-like values, and the buffers."""
    buffers: list[bytes] = []
    return _deconstruct(data, buffers), buffers


def placeholder_hook(buffers: list[bytes]) -> Callable[[Any], Any]:
    """A JSON ``default`` hook that puts bytes-like values in ``buffers`` and returns placeholders.

    Serializing with it does :func:`deconstruct` and the JSON encoding in one pass.
    """

    def placeholder(value: Any) -> Any:
        if isinstance(value, BINARY_TYPES):
            buffers.append(value if type(value) is bytes else bytes(value))
            return {"_placeholder": True, "num": len(buffers) - 1}
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    return placeholder


def _placeholder_buffer(obj: dict[str, Any], buffers: list[bytes]) -> bytes:
    num = obj.get("num")
    if type(num) is int and 0 <= num < len(buffers):
        return buffers[num]
    if type(num) is float and num.is_integer() and 0 <= num < len(buffers):
        return buffers[int(num)]
    raise InvalidPlaceholder(
        f"placeholder num {num!r} does not point into {len(buffers)} attachment(s)"
    )


def _reconstruct(obj: Any, buffers: list[bytes]) -> Any:
    if isinstance(obj, list):
        for index, item in enumerate(obj):
            if isinstance(item, list | dict):
                obj[index] = _reconstruct(item, buffers)
    elif isinstance(obj, dict):
        if obj.get("_placeholder") is True:
            return _placeholder_buffer(obj, buffers)
        for key, value in obj.items():
            if isinstance(value, list | dict):
                obj[key] = _reconstruct(value, buffers)
    return obj


def reconstruct(data: Any, buffers: list[bytes]) -> Any:
    """Put ``buffers`` in place of the placeholders of ``data`` (decoded JSON, changed in place).

    Raises :class:`InvalidPlaceholder` for a placeholder whose ``num`` is not a valid index.
    """
    return _reconstruct(data, buffers)
