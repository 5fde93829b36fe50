"""Issue #14's Engine.IO options where roomcast says more than Node (the differential tests pin
what they share): what a session is told, refusals of upgrades, failing hooks, the hot path."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from roomcast.engine.cors import CorsOptions
from roomcast.engine.engine import Engine
from roomcast.engine.hooks import CookieOptions, session_cookie
from roomcast.engine.http import Request, Response

from .conftest import TIMEOUT, EchoServer, MakeServer, handshake, polling, recv, ws_connect


async def slow_post(server: EchoServer, sid: str) -> bytes:
    """A POST on session ``sid`` that sends 3 of its 10 body bytes, then waits for the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        f"POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n"
        "Content-Length: 10\r\n\r\n4ab".encode()
    )
    answer = await asyncio.wait_for(reader.read(), TIMEOUT)  # the server closes after it
    writer.close()
    return answer


async def test_slow_post_body_closes_its_session_only(
    make_server: MakeServer, http: httpx.AsyncClient
) -> None:
    server = await make_server(http_request_body_timeout=0.1)
    sid = await handshake(http, server.url)
    other = await handshake(http, server.url)
    answer = await slow_post(server, sid)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"Connection: close" in answer
    closed = await asyncio.wait_for(server.closed[sid], TIMEOUT)
    assert closed == ("transport error", "http request timeout")
    assert sid not in server.engine.sessions
    response = await http.post(server.url, params=polling(other), content="4still")
    assert response.text == "ok"
    assert (await http.get(server.url, params=polling(other))).text == "4still"


async def test_middleware_sees_every_request_and_runs_before_allow_request(
    make_server: MakeServer, http: httpx.AsyncClient
) -> None:
    seen: list[tuple[str, str | None]] = []
    allowed_states: list[object] = []

    def allow(request: Request) -> bool:
        allowed_states.append(request.state)
        return True

    server = await make_server(allow_request=allow)

    @server.engine.use
    async def record(request: Request) -> None:
        seen.append((request.method, request.query.get("sid")))
        request.state = "from middleware"

    sid = await handshake(http, server.url)
    await http.post(server.url, params=polling(sid), content="4whoami")
    assert (await http.get(server.url, params=polling(sid))).text == "4from middleware"
    ws = await ws_connect(server.url, sid=sid)
    await ws.close()
    assert seen == [("GET", None), ("POST", sid), ("GET", sid), ("GET", sid)]
    assert allowed_states == ["from middleware"]


async def test_middleware_refuses_an_upgrade_with_its_answer(make_server: MakeServer) -> None:
    server = await make_server()

    @server.engine.use
    def refuse(request: Request) -> Response | None:
        if request.headers.get("upgrade"):
            return Response(401, [("Content-Type", "text/plain")], b"log in first")
        return None

    with pytest.raises(InvalidStatus) as refused:
        await ws_connect(server.url)
    assert refused.value.response.status_code == 401
    assert refused.value.response.body == b"log in first"
    assert not server.engine.sessions


async def test_a_shared_refusal_gets_the_cors_headers_once_per_answer(
    make_server: MakeServer, http: httpx.AsyncClient
) -> None:
    refusal = Response(401, [("Content-Type", "text/plain")], b"no")
    server = await make_server(cors=CorsOptions(origins=["https://a.example"]))
    server.engine.use(lambda request: refusal)
    params = {"EIO": "4", "transport": "polling"}
    for _ in range(2):
        response = await http.get(
            server.url, params=params, headers={"origin": "https://a.example"}
        )
        assert response.status_code == 401
        assert response.headers.get_list("access-control-allow-origin") == ["https://a.example"]
    assert refusal.headers == [("Content-Type", "text/plain")]


async def test_failing_hook_is_logged_and_the_answer_still_goes(
    make_server: MakeServer, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(headers: dict[str, str | list[str]], request: Request) -> None:
        headers["X-Before"] = "set"
        raise RuntimeError("hook bug")

    server = await make_server(headers=broken)
    with caplog.at_level(logging.ERROR, "roomcast.engine"):
        response = await http.get(server.url, params={"EIO": "4", "transport": "polling"})
    assert response.status_code == 200
    assert response.headers["x-before"] == "set"
    assert [r.getMessage() for r in caplog.records if "header hook" in r.getMessage()] != []
    ws = await ws_connect(server.url)
    assert str(await recv(ws)).startswith("0{")
    assert ws.response.headers["x-before"] == "set"
    await ws.close()


def test_no_option_set_means_no_hooks() -> None:
    engine = Engine()
    assert engine.hooks is None and engine.middlewares is None
    assert Engine(cookie=True).hooks is not None
    assert Engine(cookie=False).hooks is None


def test_cookie_attributes() -> None:
    assert session_cookie(CookieOptions(), "a-b_c") == "io=a-b_c; Path=/; HttpOnly; SameSite=Lax"
    cookie = CookieOptions(
        name="lb", path=None, http_only=False, same_site="none", secure=True, domain="x.org"
    )
    assert session_cookie(cookie, "s") == "lb=s; Domain=x.org; Secure; SameSite=None"
