"""The WebSocket opening handshake, raw: the short path's answer, and what websockets does."""

from __future__ import annotations

import asyncio

import pytest

from roomcast.engine.cors import CorsOptions
from roomcast.engine.websocket import accept_key

from .conftest import PATH, TIMEOUT, EchoServer, MakeServer

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 section 1.3's example


def upgrade(port: int, **headers: str) -> bytes:
    lines = [f"GET {PATH}?EIO=4&transport=websocket HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    fields = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": KEY,
        "Sec-WebSocket-Version": "13",
    }
    fields.update({name.replace("_", "-"): value for name, value in headers.items()})
    lines += [f"{name}: {value}" for name, value in fields.items() if value]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def masked(text: str) -> bytes:
    data = text.encode()
    return bytes((0x81, 0x80 | len(data), 0, 0, 0, 0)) + data


async def answer(port: int, request: bytes) -> tuple[list[str], bytes]:
    """The status and header lines of the answer to ``request``, and what came after them."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    rest = await asyncio.wait_for(reader.read(4096), TIMEOUT)
    writer.close()
    return head.decode("latin-1").split("\r\n")[:-2], rest


def test_accept_key_is_the_rfc_example() -> None:
    assert accept_key(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert accept_key("c2hvcnQ=") is None  # "short": not 16 bytes
    assert accept_key("not base64!") is None


async def test_the_101_carries_what_nodes_ws_sends(server: EchoServer) -> None:
    lines, rest = await answer(server.port, upgrade(server.port))
    assert lines == [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
    ]
    assert rest[:3] == b"\x81" + bytes([len(rest) - 2]) + b"0"  # the open packet follows


async def test_header_values_are_matched_as_tokens(server: EchoServer) -> None:
    lines, _ = await answer(
        server.port, upgrade(server.port, Connection="keep-alive, Upgrade", Upgrade="WebSocket")
    )
    assert lines[0] == "HTTP/1.1 101 Switching Protocols"


async def test_cors_headers_join_the_101(make_server: MakeServer) -> None:
    server = await make_server(cors=CorsOptions(origins=["https://app.example"]))
    lines, _ = await answer(server.port, upgrade(server.port, Origin="https://app.example"))
    assert "Access-Control-Allow-Origin: https://app.example" in lines


async def test_frames_sent_with_the_request_are_handled(server: EchoServer) -> None:
    # a client that does not wait for the 101: its first message arrives with the request
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(upgrade(server.port) + masked("4early"))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    assert head.startswith(b"HTTP/1.1 101 ")
    texts: list[bytes] = []
    while len(texts) < 2:  # the open packet, then the echo
        first, size = await asyncio.wait_for(reader.readexactly(2), TIMEOUT)
        assert first == 0x81 and size < 126
        texts.append(await asyncio.wait_for(reader.readexactly(size), TIMEOUT))
    assert texts[0].startswith(b"0{") and texts[1] == b"4early"
    writer.close()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Sec-WebSocket-Version": "12"}, "HTTP/1.1 400 Bad Request"),
        ({"Sec-WebSocket-Key": "c2hvcnQ="}, "HTTP/1.1 400 Bad Request"),
        ({"Sec-WebSocket-Key": ""}, "HTTP/1.1 400 Bad Request"),
    ],
)
async def test_a_bad_handshake_gets_websockets_answer(
    server: EchoServer, headers: dict[str, str], status: str
) -> None:
    lines, _ = await answer(server.port, upgrade(server.port, **headers))
    assert lines[0] == status
    assert not server.engine.sessions


async def test_with_compression_offered_websockets_negotiates_it(make_server: MakeServer) -> None:
    server = await make_server(websocket_compression=True)
    lines, _ = await answer(
        server.port,
        upgrade(server.port, Sec_WebSocket_Extensions="permessage-deflate"),
    )
    assert lines[0] == "HTTP/1.1 101 Switching Protocols"
    assert any(line.startswith("Sec-WebSocket-Extensions: permessage-deflate") for line in lines)
