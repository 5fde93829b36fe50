"""The server's own frames are byte for byte what websockets would serialize."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode

from roomcast.engine.server_frames import binary_frame, text_frame

# every length encoding and its edges: 7 bits, 16 bits (126), 64 bits (127)
SIZES = [0, 1, 125, 126, 127, 65535, 65536, 70000, 1 << 20]


def websockets_frame(opcode: Opcode, payload: bytes) -> bytes:
    return Frame(opcode, payload).serialize(mask=False, extensions=())


@pytest.mark.parametrize("size", SIZES)
def test_text_frames_of_every_length_encoding(size: int) -> None:
    payload = b"x" * size
    assert text_frame(payload) == websockets_frame(Opcode.TEXT, payload)


@pytest.mark.parametrize("size", SIZES)
def test_binary_frames_of_every_length_encoding(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    assert binary_frame(payload) == websockets_frame(Opcode.BINARY, payload)


@given(st.binary(max_size=70000))
def test_any_payload(payload: bytes) -> None:
    assert binary_frame(payload) == websockets_frame(Opcode.BINARY, payload)
    assert text_frame(payload) == websockets_frame(Opcode.TEXT, payload)


def test_the_header_says_final_unmasked_and_the_length() -> None:
    assert text_frame(b"42") == b"\x81\x0242"
    assert binary_frame(b"\x01" * 126)[:4] == b"\x82\x7e\x00\x7e"
    assert binary_frame(b"\x01" * 65536)[:10] == b"\x82\x7f" + (65536).to_bytes(8, "big")
