"""Engine.IO server options, with the names (snake_case) and defaults of Node's ``engine.io`` 6."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .cors import CorsOptions
from .hooks import CookieOptions, HeaderHook
from .http import Request

__all__ = ["AllowRequest", "EngineOptions"]

AllowRequest = Callable[[Request], "bool | str | Awaitable[bool | str]"]
"""``allow_request(request)``: ``True`` accepts; ``False`` or a message refuses with 403."""


@dataclass
class EngineOptions:
    """How an :class:`~roomcast.engine.engine.Engine` behaves; times are in seconds."""

    path: str = "/socket.io/"
    """URL path the engine serves; a trailing slash is added (Node's ``addTrailingSlash``)."""
    ping_interval: float = 25.0
    """The server sends a ping every ``ping_interval`` seconds (``pingInterval``)."""
    ping_timeout: float = 20.0
    """A session without a pong ``ping_timeout`` seconds after a ping closes (``ping timeout``)."""
    max_payload: int = 1_000_000
    """Largest POST body and WebSocket message, in bytes (Node's ``maxHttpBufferSize``)."""
    upgrade_timeout: float = 10.0
    """Time a client has to complete a polling -> WebSocket upgrade (``upgradeTimeout``)."""
    transports: tuple[str, ...] = ("polling", "websocket")
    allow_upgrades: bool = True
    cors: CorsOptions | None = None
    allow_request: AllowRequest | None = None
    websocket_compression: bool = False
    """Negotiate permessage-deflate (off like Node's default: it costs memory per socket)."""
    websocket_ping_interval: float | None = None
    """Send WebSocket ping frames at this interval (off: Engine.IO has its own heartbeat)."""
    websocket_close_timeout: float = 5.0
    """How long to wait for the client's half of the WebSocket closing handshake."""
    http_compression_threshold: int | None = 1024
    """Poll answers of this many bytes or more are gzip/deflate compressed when the client
    accepts it (Node's ``httpCompression.threshold``); ``None`` turns compression off."""
    polling_max_packets: int | None = 16
    """Most packets in one poll answer: python-engineio's client refuses payloads of more than 16
    packets (Node's server has no limit: ``None``)."""
    polling_close_timeout: float = 30.0
    """How long a closing polling session waits for the GET that carries its close packet."""
    write_buffer_high_water: int = 1 << 20
    """Volatile messages are dropped while a session has more buffered bytes than this."""
    max_write_buffer: int = 4 << 20
    """A session with more buffered bytes than this is closed (``transport error``, description
    ``"write buffer full"``): a WebSocket client that stops reading, or a polling client that
    stops polling, cannot make the server's memory grow without bound. A WebSocket is then
    aborted (unsent bytes dropped, no close frame), not closed politely."""
    max_write_buffer_total: int | None = 256 << 20
    """The most bytes all sessions together may hold unsent (socket write buffers and polling
    queues). Past it, the sessions with the largest backlog are cut off as with
    ``max_write_buffer``, largest first, until the total is under it again: memory stays
    bounded whatever the number of slow clients. ``None``: no server-wide limit."""
    max_connections: int | None = None
    """Most open sessions; a handshake past it gets HTTP 503 ``{"code":6,"message":"Too many
    connections"}`` (a WebSocket handshake: 503 ``Too many connections``). ``None``: no limit."""

    cookie: CookieOptions | bool | None = None
    """Set a cookie carrying the session id on the polling handshake's answer (for load
    balancers that stick on a cookie); ``True``: ``CookieOptions()``, Node's defaults (``io``,
    path ``/``, HttpOnly, SameSite=Lax). Not set on a WebSocket handshake, as with Node."""
    initial_headers: HeaderHook | None = None
    """``initial_headers(headers, request)``: change the headers of a handshake's answer (polling
    or WebSocket 101), after the cookie is set (Node's ``initial_headers`` event)."""
    headers: HeaderHook | None = None
    """``headers(headers, request)``: change the headers of every polling answer (GET and POST)
    and of every WebSocket 101 (Node's ``headers`` event); on a handshake it runs after
    ``initial_headers``."""
    http_request_body_timeout: float = 30.0
    """A polling POST whose body has not fully arrived this many seconds after its headers is
    answered 408 and its session closed (``transport error``, ``"http request timeout"``), as
    Node's ``httpRequestBodyTimeout``."""

    def __post_init__(self) -> None:
        if self.cookie is True:
            self.cookie = CookieOptions()
        elif self.cookie is False:
            self.cookie = None
        path = self.path.rstrip("/") + "/"
        self.path = path if path.startswith("/") else "/" + path
        unknown = set(self.transports) - {"polling", "websocket"}
        if unknown or not self.transports:
            raise ValueError(f"unsupported transports: {sorted(unknown) or 'none given'}")
