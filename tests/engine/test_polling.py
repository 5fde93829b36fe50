"""HTTP long-polling, raw: handshake, packets both ways, every error answer, close reasons."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from typing import Any

import httpx
import pytest

from roomcast.engine.cors import CorsOptions
from roomcast.engine.http import Request

from .conftest import (
    TIMEOUT,
    EchoServer,
    MakeServer,
    handshake,
    open_data,
    poll_pending,
    polling,
    until,
)


async def test_handshake_open_packet(server: EchoServer, http: httpx.AsyncClient) -> None:
    response = await http.get(server.url, params={"EIO": "4", "transport": "polling"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=UTF-8"
    assert response.headers["cache-control"] == "no-store"
    data = open_data(response.text)
    assert set(data) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert data["upgrades"] == ["websocket"]
    assert (data["pingInterval"], data["pingTimeout"], data["maxPayload"]) == (
        25000,
        20000,
        1000000,
    )
    assert len(data["sid"]) >= 22  # at least 128 random bits, URL-safe base64
    assert data["sid"] in server.engine.sessions


async def test_options_in_open_packet(make_server: MakeServer, http: httpx.AsyncClient) -> None:
    server = await make_server(
        ping_interval=1.5, ping_timeout=0.25, max_payload=5000, transports=("polling",)
    )
    response = await http.get(server.url, params={"EIO": "4", "transport": "polling"})
    data = open_data(response.text)
    assert (data["pingInterval"], data["pingTimeout"], data["maxPayload"]) == (1500, 250, 5000)
    assert data["upgrades"] == []


async def test_post_then_get(server: EchoServer, http: httpx.AsyncClient) -> None:
    sid = await handshake(http, server.url)
    post = await http.post(server.url, params=polling(sid), content="4hello\x1e4world")
    assert (post.status_code, post.text) == (200, "ok")
    assert post.headers["content-type"] == "text/html"
    assert post.headers["content-length"] == "2"
    get = await http.get(server.url, params=polling(sid))
    assert get.text == "4hello\x1e4world"


async def test_binary_both_ways_as_base64(server: EchoServer, http: httpx.AsyncClient) -> None:
    sid = await handshake(http, server.url)
    payload = "b" + base64.b64encode(b"\x00\xff\x10").decode()
    await http.post(server.url, params=polling(sid), content=payload)
    session = server.sessions[sid]
    assert session.send(b"\x01\x02")
    get = await http.get(server.url, params=polling(sid))
    assert get.text == payload + "\x1eb" + base64.b64encode(b"\x01\x02").decode()


async def test_long_poll_answered_when_a_message_is_sent(
    server: EchoServer, http: httpx.AsyncClient
) -> None:
    sid = await handshake(http, server.url)
    poll = asyncio.ensure_future(http.get(server.url, params=polling(sid)))
    await until(poll_pending(server, sid))
    server.sessions[sid].send("late")
    response = await asyncio.wait_for(poll, TIMEOUT)
    assert response.text == "4late"


async def test_queue_split_at_max_payload(make_server: MakeServer, http: httpx.AsyncClient) -> None:
    server = await make_server(max_payload=100)
    sid = await handshake(http, server.url)
    session = server.sessions[sid]
    for i in range(10):
        session.send(f"{i}" * 30)
    texts: list[str] = []
    while len(texts) < 10:
        response = await http.get(server.url, params=polling(sid))
        assert len(response.content) <= 100
        texts += response.text.split("\x1e")
    assert texts == ["4" + f"{i}" * 30 for i in range(10)]


async def test_queue_split_at_max_payload_bytes_not_characters(
    make_server: MakeServer, http: httpx.AsyncClient
) -> None:
    server = await make_server(max_payload=100)
    sid = await handshake(http, server.url)
    session = server.sessions[sid]
    for _ in range(6):
        session.send("\u20ac" * 15)  # 15 characters, 45 bytes in UTF-8
    texts: list[str] = []
    while len(texts) < 6:
        response = await http.get(server.url, params=polling(sid))
        assert len(response.content) <= 100
        texts += response.text.split("\x1e")
    assert texts == ["4" + "\u20ac" * 15] * 6


async def test_queue_limit_counts_bytes(make_server: MakeServer, http: httpx.AsyncClient) -> None:
    server = await make_server(max_write_buffer=3000)
    sid = await handshake(http, server.url)
    session = server.sessions[sid]
    session.send("\u20ac" * 600)  # 1,801 bytes queued (601 characters)
    assert not session.closed
    session.send("\u20ac" * 600)  # 3,602 bytes: past the limit
    assert session.closed
    reason, description = await asyncio.wait_for(server.closed[sid], TIMEOUT)
    assert (reason, description) == ("transport error", "write buffer full")


async def test_server_budget_cuts_the_largest_queue_first(
    make_server: MakeServer, http: httpx.AsyncClient
) -> None:
    server = await make_server(max_write_buffer_total=10_000)
    a, b, c = [server.sessions[await handshake(http, server.url)] for _ in range(3)]
    for session, size in ((a, 4000), (b, 3000), (c, 2000)):
        session.send("x" * (size - 1))  # "4" + text: the clients do not poll
    assert server.engine._budget.total == 9000  # within the budget: nobody is cut off
    c.send("x" * 1999)  # 11,000: past it
    reason = await asyncio.wait_for(server.closed[a.sid], TIMEOUT)
    assert reason == ("transport error", "write buffer full")
    assert not (b.closed or c.closed)
    assert server.engine._budget.total == 7000
    for session in (b, c):
        texts = (await http.get(server.url, params=polling(session.sid))).text
        assert texts.startswith("4xxx")
    assert server.engine._budget.total == 0


async def test_close_packet_from_client(server: EchoServer, http: httpx.AsyncClient) -> None:
    sid = await handshake(http, server.url)
    post = await http.post(server.url, params=polling(sid), content="1")
    assert post.text == "ok"
    assert await server.close_reason(sid) == "transport close"
    again = await http.get(server.url, params=polling(sid))
    assert again.status_code == 400
    assert again.json() == {"code": 1, "message": "Session ID unknown"}


async def test_parse_error_closes_session(server: EchoServer, http: httpx.AsyncClient) -> None:
    sid = await handshake(http, server.url)
    post = await http.post(server.url, params=polling(sid), content="4ok\x1ex")
    assert post.text == "ok"
    assert await server.close_reason(sid) == "parse error"
    # The packet before the bad one was handled (like Node).
    assert server.sessions[sid].closed


async def test_error_codes(server: EchoServer, http: httpx.AsyncClient) -> None:
    url = server.url
    cases = [
        ({"EIO": "4", "transport": "carrier-pigeon"}, "GET", 400, 0, "Transport unknown"),
        ({"EIO": "4"}, "GET", 400, 0, "Transport unknown"),
        ({"EIO": "4", "transport": "polling", "sid": "nope"}, "GET", 400, 1, "Session ID unknown"),
        ({"EIO": "4", "transport": "polling", "sid": "nope"}, "POST", 400, 1, "Session ID unknown"),
        ({"EIO": "4", "transport": "polling"}, "POST", 400, 2, "Bad handshake method"),
        ({"EIO": "4", "transport": "polling"}, "PUT", 400, 2, "Bad handshake method"),
        ({"EIO": "4", "transport": "websocket"}, "GET", 400, 3, "Bad request"),
        ({"EIO": "3", "transport": "polling"}, "GET", 400, 5, "Unsupported protocol version"),
        ({"transport": "polling"}, "GET", 400, 5, "Unsupported protocol version"),
    ]
    for params, method, status, code, message in cases:
        response = await http.request(method, url, params=params)
        assert response.status_code == status, (params, method)
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"code": code, "message": message}, (params, method)


async def test_bad_origin_is_bad_request(server: EchoServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nOrigin: a\x7fb\r\n\r\n"
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    assert head.startswith(b"HTTP/1.1 400")
    writer.close()


async def test_transport_mismatch_after_upgrade_is_bad_request(
    server: EchoServer, http: httpx.AsyncClient
) -> None:
    sid = await handshake(http, server.url)
    response = await http.get(server.url, params={**polling(sid), "transport": "websocket"})
    assert response.json() == {"code": 3, "message": "Bad request"}
    response = await http.get(server.url, params={**polling(sid), "EIO": "3"})
    assert response.json() == {"code": 3, "message": "Bad request"}


async def test_other_method_on_session_is_500(server: EchoServer, http: httpx.AsyncClient) -> None:
    sid = await handshake(http, server.url)
    response = await http.put(server.url, params=polling(sid))
    assert (response.status_code, response.text) == (500, "")


async def test_duplicate_get_closes_session(server: EchoServer, http: httpx.AsyncClient) -> None:
    sid = await handshake(http, server.url)
    first = asyncio.ensure_future(http.get(server.url, params=polling(sid)))
    await until(poll_pending(server, sid))
    second = await http.get(server.url, params=polling(sid))
    assert (second.status_code, second.text) == (400, "")
    assert (await asyncio.wait_for(first, TIMEOUT)).text == "1"
    assert await server.close_reason(sid) == "transport error"


async def test_binary_content_type_refused(server: EchoServer, http: httpx.AsyncClient) -> None:
    sid = await handshake(http, server.url)
    response = await http.post(
        server.url,
        params=polling(sid),
        content=b"4x",
        headers={"content-type": "application/octet-stream"},
    )
    assert response.status_code == 400
    assert await server.close_reason(sid) == "transport error"


async def test_oversized_post_refused_and_session_closed(make_server: MakeServer) -> None:
    server = await make_server(max_payload=1000)
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        sid = await handshake(http, server.url)
        response = await http.post(server.url, params=polling(sid), content="4" + "x" * 5000)
        assert response.status_code == 413
        assert await server.close_reason(sid) == "transport error"
        # A body right at the limit is fine on a new session.
        sid = await handshake(http, server.url)
        response = await http.post(server.url, params=polling(sid), content="4" + "y" * 999)
        assert response.text == "ok"
        assert (await http.get(server.url, params=polling(sid))).text == "4" + "y" * 999


async def test_pending_get_gets_close_packet_when_server_closes(
    server: EchoServer, http: httpx.AsyncClient
) -> None:
    sid = await handshake(http, server.url)
    poll = asyncio.ensure_future(http.get(server.url, params=polling(sid)))
    await until(poll_pending(server, sid))
    server.sessions[sid].send("last")
    assert (await asyncio.wait_for(poll, TIMEOUT)).text == "4last"
    poll = asyncio.ensure_future(http.get(server.url, params=polling(sid)))
    await until(poll_pending(server, sid))
    server.sessions[sid].close()
    assert (await asyncio.wait_for(poll, TIMEOUT)).text == "1"
    assert await server.close_reason(sid) == "forced close"


async def test_close_without_pending_get_waits_for_next_poll(
    server: EchoServer, http: httpx.AsyncClient
) -> None:
    sid = await handshake(http, server.url)
    session = server.sessions[sid]
    session.send("a")
    session.close()
    assert not session.send("dropped")
    assert (await http.get(server.url, params=polling(sid))).text == "4a"  # as Node: queue first
    assert (await http.get(server.url, params=polling(sid))).text == "6\x1e1"  # then the close
    assert await server.close_reason(sid) == "forced close"
    sid = await handshake(http, server.url)
    server.sessions[sid].close()
    assert (await http.get(server.url, params=polling(sid))).text == "6\x1e1"


async def test_dropped_poll_is_transport_error(server: EchoServer) -> None:
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        sid = await handshake(http, server.url)
    _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        f"GET /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    )
    await writer.drain()
    await until(poll_pending(server, sid))
    writer.close()
    assert await server.close_reason(sid) == "transport error"


async def test_client_ping_is_invalid(server: EchoServer, http: httpx.AsyncClient) -> None:
    sid = await handshake(http, server.url)
    await http.post(server.url, params=polling(sid), content="2")
    assert await server.close_reason(sid) == "transport error"


async def test_volatile_dropped_without_pending_poll(
    server: EchoServer, http: httpx.AsyncClient
) -> None:
    sid = await handshake(http, server.url)
    session = server.sessions[sid]
    assert session.send("kept")
    assert not session.send("dropped", volatile=True)
    assert (await http.get(server.url, params=polling(sid))).text == "4kept"


async def test_cors_preflight_and_headers(make_server: MakeServer, http: httpx.AsyncClient) -> None:
    server = await make_server(
        cors=CorsOptions(origins=["https://a.example"], credentials=True, allowed_headers=["x-a"])
    )
    preflight = await http.options(
        server.url,
        params={"EIO": "4", "transport": "polling"},
        headers={"origin": "https://a.example", "access-control-request-method": "POST"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://a.example"
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert preflight.headers["access-control-allow-methods"] == "GET,HEAD,PUT,PATCH,POST,DELETE"
    assert preflight.headers["access-control-allow-headers"] == "x-a"
    assert preflight.headers["vary"] == "Origin"
    ok = await http.get(
        server.url,
        params={"EIO": "4", "transport": "polling"},
        headers={"origin": "https://a.example"},
    )
    assert ok.headers["access-control-allow-origin"] == "https://a.example"
    other = await http.get(
        server.url, params={"EIO": "4", "transport": "x"}, headers={"origin": "https://b.example"}
    )
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers
    assert other.headers["vary"] == "Origin"


async def test_cors_star_reflects_request_headers(
    make_server: MakeServer, http: httpx.AsyncClient
) -> None:
    server = await make_server(cors=CorsOptions())
    preflight = await http.options(
        server.url, headers={"origin": "https://z", "access-control-request-headers": "x-b"}
    )
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert preflight.headers["access-control-allow-headers"] == "x-b"
    assert preflight.headers["vary"] == "Access-Control-Request-Headers"


@pytest.mark.parametrize("origins", [[], (), ""], ids=["list", "tuple", "string"])
async def test_cors_with_no_origin_allows_none(
    make_server: MakeServer, http: httpx.AsyncClient, origins: Any
) -> None:
    server = await make_server(cors=CorsOptions(origins=origins))
    asked = {"origin": "https://a.example", "access-control-request-method": "POST"}
    preflight = await http.options(
        server.url, params={"EIO": "4", "transport": "polling"}, headers=asked
    )
    opened = await http.get(
        server.url,
        params={"EIO": "4", "transport": "polling"},
        headers={"origin": "https://a.example"},
    )
    assert opened.status_code == 200
    for response in (preflight, opened):
        assert "access-control-allow-origin" not in response.headers
        assert response.headers["vary"].startswith("Origin")


async def test_regex_origins_are_searched_unless_anchored(
    make_server: MakeServer, http: httpx.AsyncClient
) -> None:
    loose = re.compile(r"https://a\.example")
    anchored = re.compile(r"^https://([a-z0-9-]+\.)?a\.example(:\d+)?$")
    for pattern, origin, allowed in [
        (loose, "https://a.example.evil.test", True),  # what "searched" means: anchor it
        (anchored, "https://a.example.evil.test", False),
        (anchored, "https://chat.a.example", True),
        (anchored, "https://a.example:8443", True),
    ]:
        server = await make_server(cors=CorsOptions(origins=[pattern]))
        response = await http.get(
            server.url, params={"EIO": "4", "transport": "polling"}, headers={"origin": origin}
        )
        assert ("access-control-allow-origin" in response.headers) is allowed, (pattern, origin)


async def test_allow_request(make_server: MakeServer, http: httpx.AsyncClient) -> None:
    def check(request: Request) -> bool | str:
        return request.headers.get("x-allow") == "yes" or "not you"

    async def check_async(request: Request) -> bool | str:
        await asyncio.sleep(0)
        return request.headers.get("x-allow") == "yes"

    for allow, message in ((check, "not you"), (check_async, "Forbidden")):
        server = await make_server(allow_request=allow)
        params = {"EIO": "4", "transport": "polling"}
        refused = await http.get(server.url, params=params)
        assert refused.status_code == 403
        assert refused.json() == {"code": 4, "message": message}
        allowed = await http.get(server.url, params=params, headers={"x-allow": "yes"})
        assert allowed.status_code == 200
        assert open_data(allowed.text)["sid"] in server.engine.sessions


async def test_messages_reach_on_message_in_order(
    server: EchoServer, http: httpx.AsyncClient
) -> None:
    sid = await handshake(http, server.url)
    received: list[str | bytes] = []
    server.sessions[sid].on_message = received.append
    await http.post(
        server.url, params=polling(sid), content="\x1e".join(f"4m{i}" for i in range(50))
    )
    await http.post(server.url, params=polling(sid), content="4é✓")
    assert received == [f"m{i}" for i in range(50)] + ["é✓"]
    assert json.loads('"ok"') == "ok"


async def test_shutdown_answers_the_pending_poll(make_server: MakeServer) -> None:
    server = await make_server()
    url = server.url
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        sid = await handshake(http, url)
        poll = asyncio.ensure_future(http.get(url, params=polling(sid)))
        await until(poll_pending(server, sid))
        closing = asyncio.ensure_future(server.listener.close(timeout=3600))
        assert (await poll).text == "1"
        assert await server.close_reason(sid) == "server shutting down"
        await asyncio.wait_for(closing, TIMEOUT)


async def test_shutdown_closes_a_session_with_no_poll_pending_at_once(
    make_server: MakeServer,
) -> None:
    """As Node's close(): a client that is not polling cannot be told, nothing is waited for."""
    server = await make_server()
    url = server.url
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        sid = await handshake(http, url)
        server.sessions[sid].send("queued")
        closing = asyncio.ensure_future(server.listener.close(timeout=3600))
        assert await server.close_reason(sid) == "server shutting down"
        await asyncio.wait_for(closing, TIMEOUT)


async def test_large_poll_answers_compressed(server: EchoServer) -> None:
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        sid = await handshake(http, server.url)
        server.sessions[sid].send("z" * 2000)
        server.sessions[sid].send("small")
        response = await http.get(server.url, params=polling(sid))  # httpx accepts gzip
        assert response.headers["content-encoding"] == "gzip"
        assert int(response.headers["content-length"]) < 200
        assert response.text == "4" + "z" * 2000 + "\x1e4small"
        server.sessions[sid].send("small")
        response = await http.get(server.url, params=polling(sid))
        assert "content-encoding" not in response.headers
