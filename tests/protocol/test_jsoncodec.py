"""The JSON functions behave like JSON.stringify / JSON.parse, whatever the backend."""

from __future__ import annotations

import json
from typing import Any

import pytest

from roomcast.protocol import jsoncodec
from roomcast.protocol.errors import InvalidJSON, NestingTooDeep
from roomcast.protocol.socketio import Decoder

# the active backend, and the standard library one whatever is installed
DUMPS = pytest.mark.parametrize("dumps", [jsoncodec.dumps, jsoncodec._dumps_stdlib])
LOADS = pytest.mark.parametrize("loads", [jsoncodec.loads, jsoncodec._loads_stdlib])


@pytest.mark.parametrize(
    ("obj", "text"),
    [
        (["message", {"name": "John", "id": "123"}], '["message",{"name":"John","id":"123"}]'),
        ("é😀", '"é😀"'),
        ("\x00\x1f\x7f\u2028", '"\\u0000\\u001f\x7f\u2028"'),
        ('"\\\n\t', '"\\"\\\\\\n\\t"'),
        ([float("nan"), float("inf"), -float("inf")], "[null,null,null]"),
        ("\ud800", '"\\ud800"'),
        ("\ud83d\ude00", '"😀"'),
        (2**70, "1180591620717411303424"),
        ({1: "a"}, '{"1":"a"}'),
        (None, "null"),
        ((1, 2), "[1,2]"),
    ],
)
@DUMPS
def test_dumps_like_json_stringify(obj: object, text: str, dumps: Any) -> None:
    assert dumps(obj) == text


@pytest.mark.parametrize("data", ['{"a":[1,2.5,"é"]}', b'{"a":[1,2.5,"\xc3\xa9"]}'])
@LOADS
def test_loads_str_and_bytes(data: str | bytes, loads: Any) -> None:
    assert loads(data) == {"a": [1, 2.5, "é"]}


@LOADS
def test_loads_what_json_parse_accepts(loads: Any) -> None:
    assert loads('"\\ud800"') == "\ud800"
    assert loads(" [1] ") == [1]
    assert loads(memoryview(b"[1]")) == [1]
    assert loads("123456789012345678901234567890") == pytest.approx(1.2345678901234568e29)


@pytest.mark.parametrize(
    "data", ["", "{", "NaN", "[Infinity]", "-Infinity", "[1,]", "'a'", '"\x01"', b"\xff", "{a:1}"]
)
@LOADS
def test_loads_refuses_what_json_parse_refuses(data: str | bytes, loads: Any) -> None:
    with pytest.raises(InvalidJSON):
        loads(data)


@DUMPS
def test_unserializable_is_a_type_error(dumps: Any) -> None:
    with pytest.raises(TypeError, match="bytes"):
        dumps({"a": b"x"})
    with pytest.raises(TypeError, match="object"):
        dumps({"a": object()})


def test_dumps_hooked_calls_the_hook_in_document_order() -> None:
    seen: list[bytes] = []

    def hook(value: object) -> object:
        assert isinstance(value, bytes)
        seen.append(value)
        return len(seen)

    assert jsoncodec.dumps_hooked([b"a", {"k": [b"b"]}, b"c"], hook) == '[1,{"k":[2]},3]'
    assert seen == [b"a", b"b", b"c"]


@LOADS
def test_nesting_past_max_depth_is_refused(loads: Any) -> None:
    limit = jsoncodec.MAX_DEPTH
    assert loads("[" * limit + "]" * limit) is not None
    deep_object = '{"a":' * limit + "1" + "}" * limit
    assert loads(deep_object) is not None
    for depth in (limit + 1, 900, 5000, 200_000):
        with pytest.raises(NestingTooDeep, match=f"more than {limit}"):
            loads("[" * depth + "]" * depth)
    with pytest.raises(NestingTooDeep):
        loads('{"a":' * (limit + 1) + "1" + "}" * (limit + 1))
    # Brackets inside strings are text, not nesting; many brackets side by side are not deep.
    assert loads(json.dumps(["[" * 5000, "{" * 5000])) == ["[" * 5000, "{" * 5000]
    wide = [[{"a": [1]}] for _ in range(10_000)]
    assert loads(json.dumps(wide)) == wide
    escaped = json.dumps(['\\"[' * 300])
    assert loads(escaped) == ['\\"[' * 300]
    assert loads(b"[" * limit + b"]" * limit) is not None


def test_nesting_too_deep_is_a_protocol_error() -> None:
    assert issubclass(NestingTooDeep, InvalidJSON)
    decoder = Decoder()
    with pytest.raises(NestingTooDeep):
        decoder.feed("2" + json.dumps(["e", [[[[]]]]]).replace("[[[[]]]]", "[" * 300 + "]" * 300))
    assert decoder.feed('2["e",1]') is not None
