"""The same raw request sequences against roomcast and Node's engine.io 6: same answers.

Each scenario drives one server through raw HTTP and WebSocket exchanges and returns a
transcript (status codes, content types, bodies, packets, close codes) with session ids
replaced by ``<sid>``; the transcripts of both servers must be equal.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidMessage, InvalidStatus
from websockets.frames import Frame, Opcode

from roomcast.engine.cors import CorsOptions
from roomcast.engine.hooks import CookieOptions
from roomcast.engine.http import Request, Response

from .conftest import (
    TIMEOUT,
    EchoServer,
    MakeServer,
    normalize,
    open_data,
    polling,
    recv,
    start_node,
    stop_node,
    ws_connect,
    ws_url,
)

Transcript = list[str]


class Target:
    """One server under test, seen only through its URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sids: list[str] = []
        self.lines: Transcript = []

    def log(self, line: str) -> None:
        self.lines.append(normalize(line, self.sids))

    def record(self, label: str, response: httpx.Response) -> None:
        content_type = response.headers.get("content-type", "-")
        cache = response.headers.get("cache-control", "-")
        encoding = response.headers.get("content-encoding", "-")
        self.log(
            f"{label}: {response.status_code} [{content_type}] [{cache}] [{encoding}] "
            f"{response.text!r}"
        )

    async def request(
        self, http: httpx.AsyncClient, label: str, method: str, params: dict[str, str], **kw: Any
    ) -> httpx.Response | None:
        try:
            response = await http.request(method, self.url, params=params, **kw)
        except httpx.HTTPError as exc:
            self.log(f"{label}: connection error {type(exc).__name__}")
            return None
        self.record(label, response)
        return response

    async def open(self, http: httpx.AsyncClient) -> str:
        response = await http.get(self.url, params={"EIO": "4", "transport": "polling"})
        sid = str(open_data(response.text)["sid"])
        self.sids.append(sid)
        self.record("handshake", response)
        return sid


Scenario = Callable[[Target, httpx.AsyncClient], Awaitable[None]]


async def errors(t: Target, http: httpx.AsyncClient) -> None:
    for label, method, params in [
        ("no transport", "GET", {"EIO": "4"}),
        ("unknown transport", "GET", {"EIO": "4", "transport": "flying"}),
        ("unknown sid GET", "GET", {"EIO": "4", "transport": "polling", "sid": "abc"}),
        ("unknown sid POST", "POST", {"EIO": "4", "transport": "polling", "sid": "abc"}),
        ("POST handshake", "POST", {"EIO": "4", "transport": "polling"}),
        ("DELETE handshake", "DELETE", {"EIO": "4", "transport": "polling"}),
        ("websocket by GET", "GET", {"EIO": "4", "transport": "websocket"}),
        ("EIO 3", "GET", {"EIO": "3", "transport": "polling"}),
        ("no EIO", "GET", {"transport": "polling"}),
    ]:
        await t.request(http, label, method, params)


async def echo(t: Target, http: httpx.AsyncClient) -> None:
    sid = await t.open(http)
    await t.request(http, "post", "POST", polling(sid), content="4hello\x1e4wörld\x1ebAAEC")
    await t.request(http, "get", "GET", polling(sid))
    await t.request(http, "noop and upgrade packets", "POST", polling(sid), content="6\x1e5\x1e4x")
    await t.request(http, "get", "GET", polling(sid))
    await t.request(http, "PUT", "PUT", polling(sid))
    await t.request(http, "mismatch", "GET", {**polling(sid), "transport": "websocket"})
    await t.request(http, "EIO 3 on session", "GET", {**polling(sid), "EIO": "3"})


async def compressed(t: Target, http: httpx.AsyncClient) -> None:
    sid = await t.open(http)
    for encoding in ("gzip", "deflate", "identity", "gzip;q=0, deflate"):
        for text in ("abc", "xyz"):  # two echoes: 1,202 bytes to send, past the 1,024 threshold
            await t.request(http, "post", "POST", polling(sid), content="4" + text * 200)
        headers = {"accept-encoding": encoding}
        await t.request(http, f"get {encoding}", "GET", polling(sid), headers=headers)


async def client_close(t: Target, http: httpx.AsyncClient) -> None:
    sid = await t.open(http)
    await t.request(http, "close packet", "POST", polling(sid), content="1")
    await t.request(http, "after", "GET", polling(sid))


async def client_close_during_poll(t: Target, http: httpx.AsyncClient) -> None:
    """The client POSTs its close packet while its GET waits."""
    sid = await t.open(http)
    poll = await poll_started(http, t, sid)
    async with httpx.AsyncClient(timeout=TIMEOUT) as other:
        await t.request(other, "close packet", "POST", polling(sid), content="1")
    t.log(f"pending poll: {await poll.answer()}")
    await t.request(http, "after", "GET", polling(sid))
    await t.request(http, "post after", "POST", polling(sid), content="4x")


async def parse_error(t: Target, http: httpx.AsyncClient) -> None:
    sid = await t.open(http)
    await t.request(http, "bad packet", "POST", polling(sid), content="4a\x1ex")
    await t.request(http, "after", "GET", polling(sid))


async def client_ping(t: Target, http: httpx.AsyncClient) -> None:
    sid = await t.open(http)
    await t.request(http, "ping from client", "POST", polling(sid), content="2")
    await t.request(http, "after", "GET", polling(sid))


async def binary_post(t: Target, http: httpx.AsyncClient) -> None:
    sid = await t.open(http)
    headers = {"content-type": "application/octet-stream"}
    await t.request(http, "octet-stream", "POST", polling(sid), content=b"4x", headers=headers)
    await t.request(http, "after", "GET", polling(sid))


async def oversized(t: Target, http: httpx.AsyncClient) -> None:
    sid = await t.open(http)
    await t.request(http, "big", "POST", polling(sid), content="4" + "x" * 1_000_000)
    async with httpx.AsyncClient(timeout=TIMEOUT) as other:  # both servers drop that connection
        await t.request(other, "after", "GET", polling(sid))


class RawPoll:
    """A GET sent on its own socket, so the test knows it left before anything else is sent."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def answer(self) -> str:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        self.writer.close()
        content_type = headers.get("content-type", "-")
        cache = headers.get("cache-control", "-")
        return f"{lines[0].split()[1]} [{content_type}] [{cache}] {body.decode()!r}"


async def poll_started(http: httpx.AsyncClient, t: Target, sid: str) -> RawPoll:
    """Send a long-poll GET; a noop POST round trip after it lets the server read it first."""
    host, port = t.url.split("/")[2].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    path = "/" + t.url.split("/", 3)[3] + f"?EIO=4&transport=polling&sid={sid}"
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    async with httpx.AsyncClient(timeout=TIMEOUT) as other:
        await other.post(t.url, params=polling(sid), content="6")
    return RawPoll(reader, writer)


async def duplicate_get(t: Target, http: httpx.AsyncClient) -> None:
    sid = await t.open(http)
    first = await poll_started(http, t, sid)
    async with httpx.AsyncClient(timeout=TIMEOUT) as other:
        await t.request(other, "second GET", "GET", polling(sid))
    t.log(f"first GET: {await first.answer()}")
    await t.request(http, "after", "GET", polling(sid))


async def server_close(t: Target, http: httpx.AsyncClient) -> None:
    sid = await t.open(http)
    await t.request(http, "ask close", "POST", polling(sid), content="4close")
    await t.request(http, "poll after close", "GET", polling(sid))
    await t.request(http, "after", "GET", polling(sid))
    sid = await t.open(http)
    poll = await poll_started(http, t, sid)
    async with httpx.AsyncClient(timeout=TIMEOUT) as other:
        await t.request(other, "ask close", "POST", polling(sid), content="4close")
    t.log(f"pending poll: {await poll.answer()}")


async def server_close_after_send(t: Target, http: httpx.AsyncClient) -> None:
    """A message queued just before close() goes out before the close packet."""
    sid = await t.open(http)
    await t.request(http, "ask bye", "POST", polling(sid), content="4bye")
    await t.request(http, "poll after bye", "GET", polling(sid))
    await t.request(http, "next poll", "GET", polling(sid))
    await t.request(http, "after", "GET", polling(sid))
    sid = await t.open(http)
    poll = await poll_started(http, t, sid)
    async with httpx.AsyncClient(timeout=TIMEOUT) as other:
        await t.request(other, "ask bye", "POST", polling(sid), content="4bye")
    t.log(f"pending poll: {await poll.answer()}")
    await t.request(http, "next poll", "GET", polling(sid))
    await t.request(http, "after", "GET", polling(sid))


async def upgrade(t: Target, http: httpx.AsyncClient) -> None:
    sid = await t.open(http)
    poll = await poll_started(http, t, sid)
    ws = await ws_connect(t.url, sid=sid)
    await ws.send("2probe")
    t.log(f"probe answer {await recv(ws)!r}")
    t.log(f"released poll: {await poll.answer()}")
    await t.request(http, "post during upgrade", "POST", polling(sid), content="4during\x1ebAQI=")
    await ws.send("5")
    t.log(f"ws got after upgrade {await recv(ws)!r}")
    t.log(f"ws got after upgrade {await recv(ws)!r}")
    await ws.send("4after upgrade")
    t.log(f"ws echo {await recv(ws)!r}")
    await ws.send(b"\x01\x02")
    t.log(f"ws echo {await recv(ws)!r}")
    await t.request(http, "poll after upgrade", "GET", polling(sid))
    await t.request(http, "post after upgrade", "POST", polling(sid), content="4x")
    second = await ws_connect(t.url, sid=sid)
    try:
        t.log(f"second ws got {await recv(second)!r}")
    except ConnectionClosed:
        t.log(f"second ws closed {second.close_code}")
    await ws.send("4close")
    try:
        t.log(f"ws got {await recv(ws)!r}")
    except ConnectionClosed:
        t.log(f"ws closed {ws.close_code}")


async def close_during_upgrade(t: Target, http: httpx.AsyncClient) -> None:
    """The server closes (after one last message) while the client is between probe and "5"."""
    sid = await t.open(http)
    poll = await poll_started(http, t, sid)
    ws = await ws_connect(t.url, sid=sid)
    await ws.send("2probe")
    t.log(f"probe answer {await recv(ws)!r}")
    t.log(f"released poll: {await poll.answer()}")
    await t.request(http, "ask bye", "POST", polling(sid), content="4bye")
    try:
        await ws.send("5")
        while True:
            t.log(f"ws got {await recv(ws)!r}")
    except ConnectionClosed:
        t.log(f"ws closed {ws.close_code}")
    await t.request(http, "poll after", "GET", polling(sid))


async def websocket(t: Target, http: httpx.AsyncClient) -> None:
    ws = await ws_connect(t.url)
    opened = await recv(ws)
    assert isinstance(opened, str)
    t.sids.append(str(open_data(opened)["sid"]))
    t.log(f"ws open {opened}")
    await ws.send("4héllo")
    t.log(f"ws echo {await recv(ws)!r}")
    await ws.send("4" + "x" * 1_000_000)
    try:
        t.log(f"ws got {await recv(ws)!r}")
    except ConnectionClosed:
        t.log(f"ws closed {ws.close_code}")
    for label, params in [
        ("unknown sid", {"sid": "nope"}),
        ("unknown transport", {"transport": "x"}),
    ]:
        try:
            await ws_connect(t.url, **params)
        except InvalidStatus as exc:
            t.log(f"{label}: {exc.response.status_code} {exc.response.body!r}")


async def websocket_close_frames(t: Target, http: httpx.AsyncClient) -> None:
    """The close frame (code and reason) each way of breaking a WebSocket gets back."""
    frames: list[tuple[str, bytes | str]] = [
        ("oversized", Frame(Opcode.TEXT, b"4" + b"x" * 1_000_001).serialize(mask=True)),
        (
            "oversized fragments",
            Frame(Opcode.TEXT, b"4" + b"x" * 600_000, fin=False).serialize(mask=True)
            + Frame(Opcode.CONT, b"x" * 600_000).serialize(mask=True),
        ),
        ("invalid UTF-8", Frame(Opcode.TEXT, b"4\xff").serialize(mask=True)),
        ("reserved opcode", b"\x83\x82abcdhi"),
        ("unmasked", b"\x81\x024x"),
        ("client close", Frame(Opcode.CLOSE, b"\x0f\xa0bye").serialize(mask=True)),
        ("server close", "4close"),
    ]
    for label, data in frames:
        ws = await ws_connect(t.url)
        opened = await recv(ws)
        t.sids.append(str(open_data(str(opened))["sid"]))
        if isinstance(data, str):
            await ws.send(data)
        else:
            ws.transport.write(data)
        with contextlib.suppress(ConnectionClosed):
            while True:
                await recv(ws)
        close = ws.protocol.close_rcvd
        t.log(f"{label}: {close.code if close else None} {close.reason if close else None!r}")


SCENARIOS: list[Scenario] = [
    errors,
    echo,
    compressed,
    client_close,
    client_close_during_poll,
    parse_error,
    client_ping,
    binary_post,
    oversized,
    duplicate_get,
    server_close,
    server_close_after_send,
    upgrade,
    close_during_upgrade,
    websocket,
    websocket_close_frames,
]


async def run(scenario: Scenario, url: str) -> Transcript:
    target = Target(url)
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        await scenario(target, http)
    return target.lines


async def test_same_transcripts_as_node(node: str, make_server: MakeServer) -> None:
    ours: EchoServer = await make_server()
    theirs = await start_node(node)
    try:
        for scenario in SCENARIOS:
            expected = await run(scenario, theirs.url)
            got = await run(scenario, ours.url)
            assert got == expected, scenario.__name__
    finally:
        await stop_node(theirs)


def cors_header_lines(response: httpx.Response) -> list[str]:
    return sorted(
        f"{name}: {value}"
        for name, value in response.headers.items()
        if name.startswith("access-control-") or name == "vary"
    )


async def test_same_cors_and_allow_request_as_node(node: str, make_server: MakeServer) -> None:
    def allow(request: Request) -> bool | str:
        return request.headers.get("x-allow") == "yes" or "go away"

    ours: EchoServer = await make_server(
        cors=CorsOptions(origins=["https://a.example"], credentials=True), allow_request=allow
    )
    theirs = await start_node(
        node,
        {
            "cors": {"origin": ["https://a.example"], "credentials": True},
            "allowRequestMessage": "go away",
        },
    )
    params = {"EIO": "4", "transport": "polling"}
    try:
        results: list[list[str]] = []
        for url in (theirs.url, ours.url):
            lines: list[str] = []
            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                for origin in ("https://a.example", "https://b.example"):
                    preflight = await http.options(
                        url,
                        params=params,
                        headers={
                            "origin": origin,
                            "access-control-request-method": "GET",
                            "access-control-request-headers": "x-allow",
                        },
                    )
                    lines.append(f"preflight {preflight.status_code} {preflight.text!r}")
                    lines += cors_header_lines(preflight)
                    for allow_header in ("no", "yes"):
                        response = await http.get(
                            url, params=params, headers={"origin": origin, "x-allow": allow_header}
                        )
                        lines.append(f"get {response.status_code}")
                        lines.append(normalize(response.text, []))
                        lines += cors_header_lines(response)
            results.append(lines)
        assert results[1] == results[0]
    finally:
        await stop_node(theirs)


# Engine.IO options of issue #14: engine.use(), cookie, initial_headers/headers, compress(False),
# the body timeout. Each runs against both servers with the same options; the transcripts carry
# the headers the options touch.

OPTION_HEADERS = ("set-cookie", "x-initial", "x-every", "cache-control", "content-encoding")


def header_lines(headers: Any) -> str:
    """The headers the options touch, as one line (``-`` for those absent)."""
    parts = []
    for name in OPTION_HEADERS:
        # httpx's headers, or websockets'
        values = headers.get_list(name) if hasattr(headers, "get_list") else headers.get_all(name)
        parts.append(f"{name}={'|'.join(values) or '-'}")
    return " ".join(parts)


class OptionTarget(Target):
    def record(self, label: str, response: httpx.Response) -> None:
        headers = header_lines(response.headers)
        self.log(f"{label}: {response.status_code} {response.text!r} {headers}")


def ws_headers_connect(url: str, headers: dict[str, str] | None = None, **params: str) -> Any:
    return connect(
        ws_url(url, **params),
        additional_headers=headers or {},
        compression=None,
        ping_interval=None,
        open_timeout=TIMEOUT,
    )


async def ws_attempt(t: Target, label: str, headers: dict[str, str], **params: str) -> Any:
    """Open a WebSocket; log the 101's headers, or the refusal."""
    try:
        ws = await ws_headers_connect(t.url, headers, **params)
    except InvalidStatus as exc:
        t.log(f"{label}: {exc.response.status_code} {exc.response.body!r}")
        return None
    except (OSError, InvalidMessage) as exc:
        t.log(f"{label}: connection error {type(exc).__name__}")
        return None
    t.log(f"{label}: 101 {header_lines(ws.response.headers)}")
    return ws


async def middleware_scenario(t: Target, http: httpx.AsyncClient) -> None:
    params = {"EIO": "4", "transport": "polling"}
    for label, headers in [
        ("refused", {"x-refuse": "no entry"}),
        ("refused later", {"x-refuse": "later", "x-async": "1"}),
        ("failed", {"x-fail": "1"}),
        ("failed later", {"x-fail": "1", "x-async": "1"}),
    ]:
        await t.request(http, f"handshake {label}", "GET", params, headers=headers)
    cookies = {"cookie": "a=1; user=ann"}
    response = await http.get(t.url, params=params, headers={**cookies, "x-async": "1"})
    sid = str(open_data(response.text)["sid"])
    t.sids.append(sid)
    t.record("handshake with cookie", response)
    await t.request(http, "post whoami", "POST", polling(sid), content="4whoami")
    await t.request(http, "get", "GET", polling(sid))
    refuse = {"x-refuse": "p"}
    await t.request(http, "post refused", "POST", polling(sid), content="4x", headers=refuse)
    await t.request(http, "get refused", "GET", polling(sid), headers={"x-fail": "1"})
    await t.request(http, "post after", "POST", polling(sid), content="4still here")
    await t.request(http, "get after", "GET", polling(sid))
    await ws_attempt(t, "websocket failed", {"x-fail": "1"})
    await ws_attempt(t, "upgrade failed", {"x-fail": "1", "x-async": "1"}, sid=sid)
    ws = await ws_attempt(t, "websocket with cookie", {"cookie": "user=bob"})
    assert ws is not None
    opened = await recv(ws)
    t.sids.append(str(open_data(str(opened))["sid"]))
    await ws.send("4whoami")
    t.log(f"ws whoami {await recv(ws)!r}")
    await ws.close()


async def headers_scenario(t: Target, http: httpx.AsyncClient) -> None:
    sid = await t.open(http)
    await t.request(http, "post", "POST", polling(sid), content="4x")
    await t.request(http, "get", "GET", polling(sid))
    await t.request(http, "unknown sid", "GET", polling("nope"))
    poll = await poll_started(http, t, sid)
    ws = await ws_attempt(t, "upgrade", {}, sid=sid)
    assert ws is not None
    await ws.send("2probe")
    t.log(f"probe answer {await recv(ws)!r}")
    t.log(f"released poll: {await poll.answer()}")
    await ws.send("5")
    await ws.close()
    direct = await ws_attempt(t, "websocket handshake", {})
    assert direct is not None
    t.sids.append(str(open_data(str(await recv(direct)))["sid"]))
    await direct.close()


async def uncompressed_scenario(t: Target, http: httpx.AsyncClient) -> None:
    sid = await t.open(http)
    gzip = {"accept-encoding": "gzip"}
    for label, messages in [
        ("all plain", ["4plain:" + "a" * 700, "4plain:" + "b" * 700]),
        ("one compressed", ["4plain:" + "a" * 700, "4" + "b" * 700]),
        ("plain alone", ["4plain:" + "c" * 1500]),
        ("compressed alone", ["4" + "d" * 1500]),
    ]:
        for message in messages:
            await t.request(http, "post", "POST", polling(sid), content=message)
        await t.request(http, f"get {label}", "GET", polling(sid), headers=gzip)


async def slow_body_scenario(t: Target, http: httpx.AsyncClient) -> None:
    sid = await t.open(http)
    host, port = t.url.split("/")[2].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    path = "/" + t.url.split("/", 3)[3] + f"?EIO=4&transport=polling&sid={sid}"
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 10\r\n"
        "Content-Type: text/plain;charset=UTF-8\r\n\r\n4ab".encode()
    )
    answer = await asyncio.wait_for(reader.read(), TIMEOUT)  # up to the server's close
    writer.close()
    status_line = answer.split(b"\r\n", 1)[0].decode()
    t.log(f"slow post: {status_line!r}")
    await t.request(http, "get after", "GET", polling(sid))


def _middleware(request: Request) -> Response | Awaitable[Response | None] | None:
    def decide() -> Response | None:
        refuse = request.headers.get("x-refuse")
        if refuse:
            body = f"refused: {refuse}".encode()
            return Response(401, [("Content-Type", "text/plain")], body)
        if request.headers.get("x-fail"):
            raise RuntimeError("middleware failed")
        match = re.search(r"(?:^|; )user=([^;]*)", request.headers.get("cookie", ""))
        request.state = match.group(1) if match else "none"
        return None

    if request.headers.get("x-async"):

        async def later() -> Response | None:
            await asyncio.sleep(0)  # decided on a later loop iteration, as Node's setTimeout
            return decide()

        return later()
    return decide()


def _initial_headers(headers: dict[str, str | list[str]], request: Request) -> None:
    headers["X-Initial"] = request.query["transport"]


def _headers(headers: dict[str, str | list[str]], request: Request) -> None:
    headers["X-Every"] = request.method
    if "cache-control" in headers:
        headers["cache-control"] = "private, no-store"


OPTION_CASES: list[tuple[str, dict[str, Any], dict[str, Any], Scenario]] = [
    ("middleware", {"middleware": _middleware}, {"middleware": True}, middleware_scenario),
    ("default cookie", {"cookie": True}, {"cookie": True}, headers_scenario),
    (
        "cookie attributes",
        {
            "cookie": CookieOptions(
                name="lb", path="/app", same_site="strict", secure=True, max_age=60
            )
        },
        {
            "cookie": {
                "name": "lb",
                "path": "/app",
                "sameSite": "strict",
                "secure": True,
                "maxAge": 60,
            }
        },
        headers_scenario,
    ),
    (
        "cookie without HttpOnly nor SameSite",
        {"cookie": CookieOptions(http_only=False, same_site=None)},
        {"cookie": {"httpOnly": False, "sameSite": False}},
        headers_scenario,
    ),
    (
        "header hooks",
        {"cookie": True, "initial_headers": _initial_headers, "headers": _headers},
        {"cookie": True, "hooks": True},
        headers_scenario,
    ),
    ("compress(False)", {}, {}, uncompressed_scenario),
    (
        "slow POST body",
        {"http_request_body_timeout": 0.2},
        {"httpRequestBodyTimeout": 200},
        slow_body_scenario,
    ),
]


@pytest.mark.parametrize(
    ("ours_options", "node_options", "scenario"),
    [case[1:] for case in OPTION_CASES],
    ids=[case[0] for case in OPTION_CASES],
)
async def test_same_option_answers_as_node(
    node: str,
    make_server: MakeServer,
    ours_options: dict[str, Any],
    node_options: dict[str, Any],
    scenario: Scenario,
) -> None:
    options = dict(ours_options)
    middleware = options.pop("middleware", None)
    ours: EchoServer = await make_server(**options)
    if middleware is not None:
        ours.engine.use(middleware)
    theirs = await start_node(node, node_options)
    try:
        results = []
        for url in (theirs.url, ours.url):
            target = OptionTarget(url)
            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                await scenario(target, http)
            results.append(target.lines)
        assert results[1] == results[0]
    finally:
        await stop_node(theirs)
