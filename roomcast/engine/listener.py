"""The listening socket: engines mounted on paths, plain HTTP routes, graceful close."""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
from collections.abc import Awaitable, Iterable
from ssl import Purpose, SSLContext, create_default_context
from types import TracebackType

from .engine import Engine
from .http import Handler, HttpProtocol, ProxyTrust, Request, Response, Router

__all__ = ["Listener", "tls_context"]

logger = logging.getLogger("roomcast.engine")

_NOT_FOUND = b"Not Found"
_DEFAULT_BODY_LIMIT = 1 << 20


def tls_context(
    certfile: str, keyfile: str | None = None, password: str | None = None
) -> SSLContext:
    """A server TLS context for :meth:`Listener.start` (``ssl=``): the certificate chain in
    ``certfile`` (PEM), its private key in ``keyfile`` (default: in ``certfile`` too)."""
    context = create_default_context(Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile, password)
    return context


class Listener:
    """One TCP port serving any number of engines (one per path) and plain HTTP routes.

    A route matches its method and path exactly and comes first (so ``/socket.io/socket.io.js``
    can be a route); an engine on ``"/socket.io/"`` serves every other URL starting with that
    path (like Node's engine.io). Anything else gets 404.

    ``forwarded_allow_ips``: the reverse proxies whose ``X-Forwarded-For`` and
    ``X-Forwarded-Proto`` are believed (see :class:`~roomcast.engine.http.ProxyTrust`); by
    default none, and a request's ``remote_address`` is the TCP peer's.
    """

    def __init__(
        self,
        *,
        max_header_size: int = 16384,
        request_timeout: float = 60.0,
        keep_alive_timeout: float = 5.0,
        forwarded_allow_ips: str | Iterable[str] | None = None,
    ) -> None:
        self.engines: list[tuple[str, Engine]] = []
        self._routes: dict[tuple[str, str], Handler] = {}
        self._server: asyncio.Server | None = None
        self._unix_servers: list[asyncio.Server] = []
        self._connections: set[HttpProtocol] = set()
        self._max_header_size = max_header_size
        self._request_timeout = request_timeout
        self._keep_alive_timeout = keep_alive_timeout
        self.proxies: ProxyTrust | None = (
            ProxyTrust(forwarded_allow_ips) if forwarded_allow_ips is not None else None
        )
        """The trusted reverse proxies (set before connections arrive), or ``None``."""

    def mount(self, engine: Engine, path: str | None = None) -> None:
        """Serve ``engine`` on ``path`` (default: ``engine.options.path``)."""
        path = (path or engine.options.path).rstrip("/") + "/"
        if any(p == path for p, _ in self.engines):
            raise ValueError(f"an engine is already mounted on {path}")
        self.engines.append((path, engine))
        self.engines.sort(key=lambda item: len(item[0]), reverse=True)

    def route(self, method: str, path: str, handler: Handler) -> None:
        """Serve ``method path`` with ``handler(request) -> Response`` (sync or async)."""
        self._routes[(method.upper(), path)] = handler

    # the Router protocol of HttpProtocol

    def _engine_for(self, url: str) -> Engine | None:
        for path, engine in self.engines:
            if url.startswith(path):
                return engine
        return None

    def body_limit(self, path: str) -> int:
        """The largest body accepted on ``path`` (an engine's ``max_payload``)."""
        engine = self._engine_for(path)
        return engine.options.max_payload if engine is not None else _DEFAULT_BODY_LIMIT

    def body_timeout(self, path: str) -> float | None:
        """An engine's ``http_request_body_timeout`` on its path; elsewhere ``None``."""
        engine = self._engine_for(path)
        return engine.options.http_request_body_timeout if engine is not None else None

    def handle(self, request: Request) -> Response | Awaitable[Response]:
        """Route one HTTP request: an exact route first, then an engine by path prefix."""
        method = "GET" if request.method == "HEAD" else request.method
        handler = self._routes.get((method, request.path))
        if handler is None:
            engine = self._engine_for(request.url)
            if engine is not None:
                return engine.handle_http(request)
            if any(path == request.path for _, path in self._routes):
                return Response(405, [("Content-Type", "text/plain")], b"Method Not Allowed")
            return Response(404, [("Content-Type", "text/plain")], _NOT_FOUND)
        if request.timed_out:
            return Response(408, [("Content-Type", "text/plain")], b"Request Timeout", close=True)
        if request.truncated:
            return Response(413, [("Content-Type", "text/plain")], b"Payload Too Large", close=True)
        return handler(request)

    def handle_upgrade(
        self, request: Request, connection: HttpProtocol
    ) -> Response | Awaitable[Response | None] | None:
        """Hand a WebSocket upgrade to its engine; other paths get 404."""
        engine = self._engine_for(request.url)
        if engine is None or "websocket" not in engine.options.transports:
            return Response(404, [("Content-Type", "text/plain")], _NOT_FOUND, close=True)
        return engine.handle_upgrade(request, connection)

    # life cycle

    def take_routes(self, other: Listener) -> None:
        """Serve the plain HTTP routes added to ``other`` too (e.g. an app's pages, added to
        a server's own listener before another listener replaces it)."""
        self._routes.update(other._routes)

    def _make_protocol(self, secure: bool = False, router: Router | None = None) -> HttpProtocol:
        """A connection's protocol, routed by this listener (or by ``router``: a subclass's
        hook to put a filter in front of it)."""
        protocol = _TrackedHttpProtocol(
            self,
            router or self,
            max_header_size=self._max_header_size,
            request_timeout=self._request_timeout,
            keep_alive_timeout=self._keep_alive_timeout,
            secure=secure,
            proxies=self.proxies,
        )
        self._connections.add(protocol)
        return protocol

    async def start(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        sock: socket.socket | None = None,
        reuse_port: bool = False,
        ssl: SSLContext | None = None,
    ) -> None:
        """Listen on ``host:port`` (``port=0`` picks a free port, see :attr:`port`).

        With ``sock``, serve that bound TCP socket instead (``host``, ``port`` and
        ``reuse_port`` do not apply): e.g. one bound with ``SO_REUSEPORT`` beforehand, shared
        by several processes. ``reuse_port`` sets ``SO_REUSEPORT`` on the socket bound here.
        With ``ssl`` (see :func:`tls_context`), serve HTTPS and WSS: requests are ``secure``.
        Call once; see :meth:`start_unix` for more sockets.
        """
        if self._server is not None:
            raise RuntimeError("listener already started")
        loop = asyncio.get_running_loop()
        factory = functools.partial(self._make_protocol, ssl is not None)
        if sock is not None:
            self._server = await loop.create_server(factory, sock=sock, ssl=ssl)
        else:
            self._server = await loop.create_server(
                factory, host, port, reuse_address=True, reuse_port=reuse_port, ssl=ssl
            )

    async def start_unix(self, path: str) -> None:
        """Also listen on the unix socket ``path`` (before or after :meth:`start`; once per
        path). :meth:`close` stops it too."""
        loop = asyncio.get_running_loop()
        self._unix_servers.append(await loop.create_unix_server(self._make_protocol, path))

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """The listening sockets: TCP (from :meth:`start`) first, then unix."""
        servers = ([self._server] if self._server is not None else []) + self._unix_servers
        return tuple(sock for server in servers for sock in server.sockets)

    @property
    def port(self) -> int:
        """The TCP port listened on."""
        if self._server is not None:
            for sock in self._server.sockets:
                return int(sock.getsockname()[1])
        raise RuntimeError("listener not started")

    async def close(self, timeout: float = 10.0) -> None:
        """Stop accepting (every socket), close every engine's sessions (flushing, within
        ``timeout``), then close the remaining HTTP connections."""
        servers = ([self._server] if self._server is not None else []) + self._unix_servers
        self._server, self._unix_servers = None, []
        for server in servers:
            server.close()
        await asyncio.gather(*(engine.close(timeout) for _, engine in self.engines))
        for connection in list(self._connections):
            if connection.transport is not None:
                connection.transport.close()
        self._connections.clear()
        for server in servers:
            await server.wait_closed()

    async def __aenter__(self) -> Listener:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


class _TrackedHttpProtocol(HttpProtocol):
    """An HttpProtocol the listener forgets when its connection ends."""

    __slots__ = ("_listener",)

    def __init__(
        self, listener: Listener, router: Router, **kwargs: float | int | bool | ProxyTrust | None
    ) -> None:
        super().__init__(router, **kwargs)  # type: ignore[arg-type]
        self._listener = listener

    def connection_lost(self, exc: Exception | None) -> None:
        self._listener._connections.discard(self)
        super().connection_lost(exc)

    def detach(self) -> tuple[asyncio.Transport, bytes]:
        self._listener._connections.discard(self)
        return super().detach()
