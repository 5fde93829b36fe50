"""A thin HTTP/1.1 front on httptools: one ``asyncio.Protocol`` per TCP connection.

It parses requests (keep-alive, pipelining: answers go out in request order), bounds the header
size, the body size (per path, asked from the router) and the time a half-sent request may take,
and hands WebSocket upgrade requests to the router, which may take the TCP transport over.

Memory per connection stays bounded whatever the client sends: reading stops while the answers
are not being read (the transport's write buffer is past its high-water mark), while
``_MAX_PENDING`` answers are being prepared, and while more than ``_MAX_TAIL`` bytes wait for
an upgrade to be decided; what was read and not yet parsed is kept (at most one read) and
parsed when the connection can take more.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol, cast
from urllib.parse import parse_qsl, urlsplit

import httptools

__all__ = [
    "Handler",
    "HttpProtocol",
    "ProxyTrust",
    "Request",
    "Response",
    "Router",
    "join_headers",
    "make_request",
]

logger = logging.getLogger("roomcast.engine")


@dataclass(slots=True)
class Request:
    """One parsed HTTP request; header names are lower-case, repeated headers joined by ``", "``."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    remote_address: tuple[str, int] | None = None
    """The TCP peer's ``(host, port)``; from a trusted proxy (see :class:`ProxyTrust`), the
    client's address in ``X-Forwarded-For`` with port 0. ``None`` on a unix socket."""
    secure: bool = False
    """Received over TLS (or, from a trusted proxy, ``X-Forwarded-Proto: https``)."""
    url: str = "/"
    """The raw request target, e.g. ``"/socket.io/?EIO=4&transport=polling"``."""
    truncated: bool = False
    """The body passed the size limit: ``body`` is empty; the connection closes after the answer."""
    timed_out: bool = False
    """The body did not arrive in time (the router's ``body_timeout``): ``body`` is what came;
    the connection closes after the answer."""
    state: Any = None
    """Free for middleware (``engine.use``) to annotate the request, e.g. with the user session
    read from a cookie; the session keeps its handshake request (``session.request.state``)."""


@dataclass(slots=True)
class Response:
    """An HTTP response; ``Content-Length`` is added when missing."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    close: bool = False
    """Close the connection once this response is written."""


def join_headers(headers: dict[str, str], raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Add raw header lines to ``headers``: names lower-cased, values latin-1, a repeated
    header joined to the first by ``", "`` (``"; "`` for ``Cookie``). Returns ``headers``."""
    for raw_name, raw_value in raw:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if name in headers:
            joiner = "; " if name == "cookie" else ", "
            headers[name] = headers[name] + joiner + value
        else:
            headers[name] = value
    return headers


def make_request(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes = b"",
    *,
    remote_address: tuple[str, int] | None = None,
    secure: bool = False,
    truncated: bool = False,
    timed_out: bool = False,
) -> Request:
    """A :class:`Request` for the request target ``url`` (path and query string): what every
    front (this one, the ASGI driver) builds from what it parsed."""
    parts = urlsplit(url)
    return Request(
        method=method,
        path=parts.path,
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers=headers,
        body=body,
        remote_address=remote_address,
        secure=secure,
        url=url,
        truncated=truncated,
        timed_out=timed_out,
    )


Handler = Callable[[Request], "Response | Awaitable[Response]"]
"""A plain HTTP route handler."""


class Router(Protocol):
    """What an :class:`HttpProtocol` asks about each request (a :class:`Listener`)."""

    def body_limit(self, path: str) -> int:
        """The largest request body accepted on ``path``."""

    def body_timeout(self, path: str) -> float | None:
        """Seconds the body of a request on ``path`` may take after its headers; ``None``: the
        connection's ``request_timeout`` alone applies. A late body is dispatched with
        ``timed_out`` set."""

    def handle(self, request: Request) -> Response | Awaitable[Response]:
        """Answer a plain HTTP request, now or later (a future or a coroutine)."""

    def handle_upgrade(
        self, request: Request, connection: HttpProtocol
    ) -> Response | Awaitable[Response | None] | None:
        """Answer an upgrade request, or take the transport over with ``connection.detach()``."""


class ProxyTrust:
    """The peers whose ``X-Forwarded-For`` and ``X-Forwarded-Proto`` headers are believed:
    reverse proxies (uvicorn's ``--forwarded-allow-ips``).

    ``allow`` is a comma-separated string or a list of IP addresses or networks
    (``"10.0.0.0/8"``), ``"*"`` for any peer, or ``"unix:"`` for peers on a unix socket.
    From a trusted peer, the client's address is the right-most ``X-Forwarded-For`` entry that
    is not itself a trusted proxy (with ``"*"``: the left-most), its port 0, and
    ``X-Forwarded-Proto: https`` (or ``wss``) marks the request secure. Other peers' headers are
    ignored.
    """

    __slots__ = ("_any", "_networks", "_unix")

    def __init__(self, allow: str | Iterable[str]) -> None:
        items = allow.split(",") if isinstance(allow, str) else list(allow)
        names = [item.strip() for item in items if item.strip()]
        self._any = "*" in names
        self._unix = self._any or "unix:" in names
        self._networks = [
            ipaddress.ip_network(name, strict=False) for name in names if name not in ("*", "unix:")
        ]

    def trusts(self, host: str | None) -> bool:
        """Whether the peer at ``host`` (``None``: a unix socket) is a trusted proxy."""
        if host is None:
            return self._unix
        if self._any:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._networks)

    def client(self, forwarded_for: str) -> str | None:
        """The client's address in an ``X-Forwarded-For`` value (``None`` if there is none)."""
        hosts = [host.strip() for host in forwarded_for.split(",") if host.strip()]
        if not hosts:
            return None
        if not self._any:
            for host in reversed(hosts):
                if not self.trusts(host):
                    return host
        return hosts[0]


_Pending = asyncio.Future[Response]
_SERVER_ERROR = Response(500, [], b"")


_FEED_SLICE = 16384
"""Bytes given to the parser at once: between slices the connection may stop (a read of tiny
pipelined requests would otherwise be answered all at once, whatever the write buffer)."""
_MAX_PENDING = 16
"""Pipelined requests being answered at once; reading waits while this many are pending."""
_MAX_TAIL = 65536
"""Bytes kept after an upgrade request while it is decided; reading waits past this."""


class _Abort(Exception):
    """Stops feeding the parser (body too large, header too large)."""


_date_cache: tuple[int, str] = (0, "")


def http_date() -> str:
    """The current time as an HTTP ``Date`` header value (cached for the second)."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, email.utils.formatdate(now, usegmt=True))
    return _date_cache[1]


def serialize_response(response: Response, *, keep_alive: bool, head: bool = False) -> bytes:
    """The bytes of ``response`` on the wire, with ``Date``, ``Connection`` and a length."""
    try:
        phrase = HTTPStatus(response.status).phrase
    except ValueError:
        phrase = "Unknown"
    lines = [f"HTTP/1.1 {response.status} {phrase}"]
    has_length = False
    for name, value in response.headers:
        if name.lower() == "content-length":
            has_length = True
        lines.append(f"{name}: {value}")
    if not has_length and response.status not in (204, 304) and response.status >= 200:
        lines.append(f"Content-Length: {len(response.body)}")
    lines.append(f"Date: {http_date()}")
    if keep_alive:
        lines.append("Connection: keep-alive")
        lines.append("Keep-Alive: timeout=5")
    else:
        lines.append("Connection: close")
    lines.append("\r\n")
    head_bytes = "\r\n".join(lines).encode("latin-1")
    return head_bytes if head else head_bytes + response.body


class HttpProtocol(asyncio.Protocol):
    """Serves HTTP/1.1 on one TCP connection for a :class:`Router`."""

    __slots__ = (
        "_body",
        "_body_limit",
        "_body_size",
        "_closing",
        "_feeding",
        "_header_name",
        "_header_size",
        "_headers",
        "_idle_timer",
        "_keep_alive_timeout",
        "_loop",
        "_max_header_size",
        "_parser",
        "_pending",
        "_proxies",
        "_raw_headers",
        "_reading_paused",
        "_request_timeout",
        "_request_timer",
        "_router",
        "_secure",
        "_tail",
        "_timed_out",
        "_too_large",
        "_trusted",
        "_unparsed",
        "_upgrade",
        "_url",
        "_write_paused",
        "peer",
        "transport",
    )

    def __init__(
        self,
        router: Router,
        *,
        max_header_size: int = 16384,
        request_timeout: float = 60.0,
        keep_alive_timeout: float = 5.0,
        secure: bool = False,
        proxies: ProxyTrust | None = None,
    ) -> None:
        self._router = router
        self._proxies = proxies
        self._trusted = False
        """The peer is a trusted proxy: its forwarding headers are believed."""
        self._max_header_size = max_header_size
        self._request_timeout = request_timeout
        self._keep_alive_timeout = keep_alive_timeout
        self._secure = secure
        self._loop = asyncio.get_running_loop()
        self._parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        """The request parser; it holds bound methods of this protocol (a reference cycle), so it
        is dropped when the connection ends or is handed over."""
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] | None = None
        self._pending: deque[tuple[_Pending | Response, bool, bool]] = deque()
        self._closing = False
        self._upgrade: Request | None = None
        self._request_timer: asyncio.TimerHandle | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._tail = bytearray()
        self._unparsed: bytes | None = None
        """Read and not yet parsed: the connection stopped (see ``_blocked``) mid-read."""
        self._feeding = False
        self._write_paused = False
        self._reading_paused = False
        self._reset_message()

    def _reset_message(self) -> None:
        self._url = b""
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._header_name = b""
        self._header_size = 0
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_size = 0
        self._body_limit = 0
        self._too_large = False
        self._timed_out = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.peer = (str(peer[0]), int(peer[1]))
        if self._proxies is not None:
            self._trusted = self._proxies.trusts(self.peer[0] if self.peer else None)
        self._arm_idle()

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        if self._upgrade is not None:
            self._tail += data  # arrived while the upgrade is being decided
            if len(self._tail) > _MAX_TAIL:
                self._pause_reading()
            return
        if self._unparsed is not None:  # read after a pause (a transport may deliver one more)
            self._unparsed += data
            return
        self._feed(data)

    def pause_writing(self) -> None:
        # The client does not read its answers: read no more requests until it does.
        self._write_paused = True
        self._pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._resume()

    def _blocked(self) -> bool:
        """Whether to stop parsing: answers pile up unread, or too many are being prepared."""
        return self._write_paused or len(self._pending) >= _MAX_PENDING

    def _pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def _resume(self) -> None:
        """Parse what was kept and read again, if the connection can take more now."""
        if self._feeding or self._closing or self._upgrade is not None or self._blocked():
            return
        data, self._unparsed = self._unparsed, None
        if data is not None:
            self._feed(data)
        if self._reading_paused and not self._blocked() and self._unparsed is None:
            self._reading_paused = False
            if self.transport is not None:
                self.transport.resume_reading()

    def _feed(self, data: bytes) -> None:
        """Parse ``data`` slice by slice, keeping the rest when the connection gets blocked."""
        parser = self._parser
        if parser is None:
            return
        view = memoryview(data)
        offset, size = 0, len(data)
        self._feeding = True
        try:
            while offset < size and not self._closing and self._upgrade is None:
                if self._blocked():
                    self._unparsed = data[offset:]
                    self._pause_reading()
                    return
                chunk = view[offset : offset + _FEED_SLICE]
                try:
                    parser.feed_data(chunk)
                except httptools.HttpParserUpgrade as exc:
                    self._start_upgrade(data[offset + exc.args[0] :])
                    return
                except _Abort:
                    return
                except httptools.HttpParserError as exc:
                    logger.info("bad HTTP request from %s: %s", self.peer, exc)
                    self._fail(400)
                    return
                offset += len(chunk)
        finally:
            self._feeding = False

    def eof_received(self) -> bool | None:
        # Like Node's HTTP server: a client that half-closes has gone; its pending requests abort.
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._cancel_timers()
        self._parser = None  # its callbacks are bound to self: freed now, not by the collector
        pending, self._pending = self._pending, deque()
        for item, _, _ in pending:
            if isinstance(item, asyncio.Future):
                item.cancel()

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._reset_message()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        self._request_timer = self._loop.call_later(self._request_timeout, self._on_request_timeout)

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._count_header_bytes(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header_bytes(len(name) + len(value))
        self._raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        headers = self._headers
        join_headers(headers, self._raw_headers)
        path = self._path()
        self._body_limit = self._router.body_limit(path)
        parser = self._parser
        assert parser is not None  # it is the one calling
        if parser.get_method() not in (b"GET", b"HEAD"):
            body_timeout = self._router.body_timeout(path)
            if body_timeout is not None:
                if self._request_timer is not None:
                    self._request_timer.cancel()
                self._request_timer = self._loop.call_later(body_timeout, self._on_body_timeout)
        if headers.get("expect", "").lower() == "100-continue" and not self._pending:
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # like Node's HTTP server

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        self._body_size += len(body)
        if self._body_size > self._body_limit:
            self._too_large = True
            self._body = []
            self._closing = True
            self._dispatch(self._make_request(), keep_alive=False)
            raise _Abort

    def on_message_complete(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None
        request = self._make_request()
        parser = self._parser
        assert parser is not None  # it is the one calling
        if parser.should_upgrade():
            self._upgrade = request
            return
        self._dispatch(request, keep_alive=parser.should_keep_alive())

    # requests and responses

    def _path(self) -> str:
        return urlsplit(self._url.decode("latin-1")).path

    def _make_request(self) -> Request:
        url = self._url.decode("latin-1")
        headers = self._headers
        remote, secure = self.peer, self._secure
        if self._trusted:
            assert self._proxies is not None
            client = self._proxies.client(headers.get("x-forwarded-for", ""))
            if client is not None:
                remote = (client, 0)
            proto = headers.get("x-forwarded-proto")
            if proto:
                secure = proto.split(",")[0].strip().lower() in ("https", "wss")
        parser = self._parser
        assert parser is not None  # only while a request is being parsed
        return make_request(
            parser.get_method().decode("ascii", "replace"),
            url,
            headers,
            b"".join(self._body),
            remote_address=remote,
            secure=secure,
            truncated=self._too_large,
            timed_out=self._timed_out,
        )

    def _count_header_bytes(self, size: int) -> None:
        self._header_size += size
        if self._header_size > self._max_header_size:
            logger.info("request headers from %s too large", self.peer)
            self._fail(431)
            raise _Abort

    def _dispatch(self, request: Request, *, keep_alive: bool) -> None:
        head = request.method == "HEAD"
        try:
            result = self._router.handle(request)
        except Exception:
            logger.exception("error in HTTP handler for %s %s", request.method, request.path)
            result = _SERVER_ERROR
        if isinstance(result, Response):
            self._pending.append((result, keep_alive, head))
            self._flush()
            return
        future: _Pending = asyncio.ensure_future(result)
        self._pending.append((future, keep_alive, head))
        future.add_done_callback(self._on_ready)

    def _on_ready(self, future: _Pending) -> None:
        if not future.cancelled() and future.exception() is not None:
            logger.error("error in HTTP handler", exc_info=future.exception())
        self._flush()

    def _flush(self) -> None:
        transport = self.transport
        while self._pending:
            item, keep_alive, head = self._pending[0]
            if isinstance(item, asyncio.Future):
                if not item.done():
                    return
                response = _SERVER_ERROR if item.cancelled() or item.exception() else item.result()
            else:
                response = item
            self._pending.popleft()
            keep_alive = (
                keep_alive and not response.close and not self._too_large and not self._timed_out
            )
            if transport is None or transport.is_closing():
                return
            transport.write(serialize_response(response, keep_alive=keep_alive, head=head))
            if not keep_alive:
                self._close_after_write()
                return
        if self._closing and transport is not None:
            self._close_after_write()
        else:
            self._arm_idle()
            if self._reading_paused:
                self._resume()

    def _close_after_write(self) -> None:
        self._closing = True
        self._cancel_timers()
        for item, _, _ in self._pending:
            if isinstance(item, asyncio.Future):
                item.cancel()
        self._pending.clear()
        if self.transport is not None:
            self.transport.close()

    def _fail(self, status: int) -> None:
        """Answer a broken request and close the connection (like Node's client error path)."""
        self._closing = True
        self._cancel_timers()
        if self.transport is not None and not self.transport.is_closing():
            phrase = HTTPStatus(status).phrase
            self.transport.write(
                f"HTTP/1.1 {status} {phrase}\r\nConnection: close\r\n\r\n".encode()
            )
            self.transport.close()

    def _on_request_timeout(self) -> None:
        self._request_timer = None
        logger.info("request from %s timed out half-sent", self.peer)
        self._fail(408)

    def _on_body_timeout(self) -> None:
        """The body is late: the router answers (the request marked ``timed_out``), then the
        connection closes."""
        self._request_timer = None
        logger.info("request body from %s timed out", self.peer)
        self._timed_out = True
        self._closing = True
        self._dispatch(self._make_request(), keep_alive=False)

    def _arm_idle(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self._idle_timer = self._loop.call_later(self._keep_alive_timeout, self._on_idle)

    def _on_idle(self) -> None:
        self._idle_timer = None
        if not self._pending and self.transport is not None:
            self._closing = True
            self.transport.close()

    def _cancel_timers(self) -> None:
        for timer in (self._request_timer, self._idle_timer):
            if timer is not None:
                timer.cancel()
        self._request_timer = self._idle_timer = None

    # upgrades

    def _start_upgrade(self, tail: bytes) -> None:
        request = self._upgrade
        assert request is not None
        self._cancel_timers()
        if self._pending:
            logger.info("upgrade request pipelined after other requests from %s", self.peer)
            self._fail(400)
            return
        self._tail = bytearray(tail)
        try:
            result = self._router.handle_upgrade(request, self)
        except Exception:
            logger.exception("error in upgrade handler")
            result = _SERVER_ERROR
        if result is None or isinstance(result, Response):
            self._finish_upgrade(result)
            return
        future = asyncio.ensure_future(result)
        future.add_done_callback(self._on_upgrade_ready)

    def _on_upgrade_ready(self, future: asyncio.Future[Response | None]) -> None:
        if future.cancelled() or future.exception() is not None:
            if not future.cancelled():
                logger.error("error in upgrade handler", exc_info=future.exception())
            self._finish_upgrade(_SERVER_ERROR)
        else:
            self._finish_upgrade(future.result())

    def _finish_upgrade(self, response: Response | None) -> None:
        if response is None or self.transport is None or self.transport.is_closing():
            return
        self._closing = True
        self.transport.write(serialize_response(response, keep_alive=False))
        self.transport.close()

    def detach(self) -> tuple[asyncio.Transport, bytes]:
        """Give the transport away (WebSocket take-over): returns it with the raw request bytes.

        The bytes are the upgrade request as received (request line and header lines) followed by
        whatever the client sent after it; no more data is read here afterwards.
        """
        request = self._upgrade
        assert request is not None and self.transport is not None
        self._closing = True
        self._cancel_timers()
        self._parser = None  # the request is parsed (see connection_lost)
        lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), self._url)]
        lines += [name + b": " + value for name, value in self._raw_headers]
        raw = b"\r\n".join(lines) + b"\r\n\r\n" + self._tail
        self._tail = bytearray()
        if self._reading_paused:  # the new protocol, set before the loop runs again, reads on
            self._reading_paused = False
            self.transport.resume_reading()
        return self.transport, raw
