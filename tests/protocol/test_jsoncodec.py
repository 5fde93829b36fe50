"""The JSON functions behave like JSON.stringify / JSON.parse, whatever the backend."""

from __future__ import annotations

import pytest

from roomcast.protocol import jsoncodec
from roomcast.protocol.errors import InvalidJSON


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
def test_dumps_like_json_stringify(obj: object, text: str) -> None:
    assert jsoncodec.dumps(obj) == text


@pytest.mark.parametrize("data", ['{"a":[1,2.5,"é"]}', b'{"a":[1,2.5,"\xc3\xa9"]}'])
def test_loads_str_and_bytes(data: str | bytes) -> None:
    assert jsoncodec.loads(data) == {"a": [1, 2.5, "é"]}


def test_loads_what_json_parse_accepts() -> None:
    assert jsoncodec.loads('"\\ud800"') == "\ud800"
    assert jsoncodec.loads(" [1] ") == [1]
    assert jsoncodec.loads("123456789012345678901234567890") == pytest.approx(1.2345678901234568e29)


@pytest.mark.parametrize(
    "data", ["", "{", "NaN", "[Infinity]", "-Infinity", "[1,]", "'a'", '"\x01"', b"\xff", "{a:1}"]
)
def test_loads_refuses_what_json_parse_refuses(data: str | bytes) -> None:
    with pytest.raises(InvalidJSON):
        jsoncodec.loads(data)


def test_unserializable_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        jsoncodec.dumps({"a": object()})
