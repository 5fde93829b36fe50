"""JSON through one pair of functions, shaped like JavaScript's ``JSON.stringify`` / ``JSON.parse``.

orjson is used when importable; set ``ROOMCAST_JSON=stdlib`` to force the standard library. Both
backends produce compact output with non-ASCII characters kept, non-finite floats as ``null`` and
lone surrogates escaped, so the text is always valid UTF-8 JSON that ``JSON.parse`` accepts.
Floats keep Python's spelling (``1.0``, ``1e+16``), which JavaScript parses to the same number.

:func:`loads` refuses JSON nested more than :data:`MAX_DEPTH` levels deep (:class:`NestingTooDeep`),
so that whatever it returns can be encoded back and walked without hitting Python's recursion limit.
"""

from __future__ import annotations

import json
import math
import os
import re
from array import array
from collections.abc import Callable
from itertools import accumulate
from typing import Any

from .errors import InvalidJSON, NestingTooDeep

__all__ = ["BACKEND", "MAX_DEPTH", "Default", "dumps", "dumps_hooked", "loads"]

MAX_DEPTH = 128
"""The deepest nesting of arrays and objects :func:`loads` accepts (``[[1]]`` is 2 levels)."""

Default = Callable[[Any], Any]
"""A hook called for each value JSON has no form for; it returns a replacement or raises."""

_SURROGATES = re.compile("[\ud800-\udbff][\udc00-\udfff]|[\ud800-\udfff]")
_SEPARATORS = (",", ":")
_stdlib_encode = json.JSONEncoder(
    ensure_ascii=False, separators=_SEPARATORS, allow_nan=False
).encode


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_stdlib_decode = json.JSONDecoder(parse_constant=_refuse_constant).decode


def _finite(obj: Any) -> Any:
    """Return ``obj`` with non-finite floats replaced by None, as ``JSON.stringify`` does."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(value) for value in obj]
    return obj


def _fix_surrogate(match: re.Match[str]) -> str:
    text = match.group()
    if len(text) == 2:  # a pair split in two code points: JavaScript sees one character
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    return f"\\u{ord(text):04x}"


def _fix_surrogates(text: str) -> str:
    if not text.isascii() and _SURROGATES.search(text):
        return _SURROGATES.sub(_fix_surrogate, text)
    return text


def _dumps_stdlib(obj: Any) -> str:
    try:
        text = _stdlib_encode(obj)
    except ValueError:  # NaN or infinity somewhere
        text = _stdlib_encode(_finite(obj))
    return _fix_surrogates(text)


def _dumps_hooked_stdlib(obj: Any, default: Default) -> str | None:
    try:
        try:
            text = _stdlib_encode(obj)  # no hook needed: skip building an encoder
        except TypeError:
            text = json.JSONEncoder(
                ensure_ascii=False, separators=_SEPARATORS, allow_nan=False, default=default
            ).encode(obj)
    except ValueError:  # NaN or infinity: leave it to dumps
        return None
    return _fix_surrogates(text)


_SHALLOW = 2 * MAX_DEPTH  # no text this short can nest deeper: each level takes two brackets
_ESCAPES = re.compile(r"\\.", re.DOTALL)
_STRINGS = re.compile(rb'"[^"]*"')
_NOT_SKELETON = bytes(set(range(256)) - set(b'"[]{}'))
_STEPS = bytes.maketrans(b'[{]}"', b"\x01\x01\xff\xff\x00")  # signed: +1 in, -1 out


def _check_depth(data: str | bytes) -> None:
    """Raise :class:`NestingTooDeep` if ``data`` nests deeper than :data:`MAX_DEPTH`.

    Free for almost every message: callers skip it for texts of at most ``_SHALLOW``
    characters, and fewer opening brackets than the limit cannot nest past it (two ``count``
    calls). Otherwise escapes and then strings are cut out and the brackets' running depth is
    summed, all in C: linear in the text, no Python loop per character.
    """
    if isinstance(data, str):
        if data.count("[") + data.count("{") <= MAX_DEPTH:
            return
        if "\\" in data:
            data = _ESCAPES.sub("", data)
        raw = data.encode("utf-8", "replace")  # brackets and quotes are ASCII
    else:
        raw = data if isinstance(data, bytes) else bytes(data)
        if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
            return
        if b"\\" in raw:
            raw = _ESCAPES.sub("", raw.decode("utf-8", "replace")).encode("utf-8", "replace")
    skeleton = _STRINGS.sub(b"", raw.translate(None, _NOT_SKELETON))
    if max(accumulate(array("b", skeleton.translate(_STEPS))), default=0) > MAX_DEPTH:
        raise NestingTooDeep(f"JSON nested more than {MAX_DEPTH} levels deep")


def _parse_stdlib(data: str | bytes) -> Any:
    try:
        return _stdlib_decode(data if isinstance(data, str) else bytes(data).decode())
    except (ValueError, RecursionError) as exc:
        raise InvalidJSON(f"invalid JSON: {exc}") from None


def _loads_stdlib(data: str | bytes) -> Any:
    if len(data) > _SHALLOW:
        _check_depth(data)
    return _parse_stdlib(data)


def _unsupported(obj: Any) -> Any:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


try:
    if os.environ.get("ROOMCAST_JSON", "").lower() == "stdlib":
        raise ImportError("stdlib JSON forced by ROOMCAST_JSON")
    import orjson
except ImportError:
    BACKEND = "stdlib"

    def dumps(obj: Any) -> str:
        """Serialize ``obj`` to compact JSON text, the way ``JSON.stringify`` would.

        Raises TypeError for a value JSON has no form for (bytes, arbitrary objects).
        """
        return _dumps_stdlib(obj)

    def dumps_hooked(obj: Any, default: Default) -> str | None:
        """Serialize ``obj`` in one pass, calling ``default`` in document order for each value
        JSON has no form for and serializing what it returns; None when this one pass cannot
        do it (huge ints, NaN, deep nesting...): then use :func:`dumps` on a plain value."""
        return _dumps_hooked_stdlib(obj, default)

    def loads(data: str | bytes) -> Any:
        """Parse JSON text; raise :class:`InvalidJSON` for anything ``JSON.parse`` refuses, and
        :class:`NestingTooDeep` past :data:`MAX_DEPTH`."""
        return _loads_stdlib(data)

else:
    BACKEND = "orjson"
    # Typed here, so that mypy gives the same answers whether orjson is installed or not.
    _orjson_dumps: Callable[[Any, Default, int], bytes] = orjson.dumps
    _orjson_loads: Callable[[str | bytes], Any] = orjson.loads
    _OPTIONS: int = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME

    def dumps(obj: Any) -> str:
        """Serialize ``obj`` to compact JSON text, the way ``JSON.stringify`` would.

        Raises TypeError for a value JSON has no form for (bytes, arbitrary objects).
        """
        try:
            return _orjson_dumps(obj, _unsupported, _OPTIONS).decode()
        except TypeError as exc:
            if exc.__cause__ is not None:  # a type neither backend serializes: fail fast
                raise exc.__cause__ from None
            return _dumps_stdlib(obj)  # big ints, surrogates, non-str keys, deep nesting

    def dumps_hooked(obj: Any, default: Default) -> str | None:
        """Serialize ``obj`` in one pass, calling ``default`` in document order for each value
        JSON has no form for and serializing what it returns; None when this one pass cannot
        do it (huge ints, NaN, deep nesting...): then use :func:`dumps` on a plain value."""
        try:
            return _orjson_dumps(obj, default, _OPTIONS).decode()
        except TypeError as exc:
            if exc.__cause__ is not None:
                raise exc.__cause__ from None
            return None

    def loads(data: str | bytes) -> Any:
        """Parse JSON text; raise :class:`InvalidJSON` for anything ``JSON.parse`` refuses, and
        :class:`NestingTooDeep` past :data:`MAX_DEPTH`."""
        if len(data) > _SHALLOW:
            _check_depth(data)
        try:
            return _orjson_loads(data)
        except ValueError:  # orjson refuses lone surrogate escapes and big ints: ask stdlib
            return _parse_stdlib(data)
