"""The Socket.IO server: namespaces over an Engine.IO engine, listening on a port."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from ssl import SSLContext
from typing import Any, TypeVar

from .. import runtime
from ..engine.cors import CorsOptions
from ..engine.engine import Engine
from ..engine.http import ProxyTrust
from ..engine.listener import Listener
from ..engine.reasons import SERVER_SHUTTING_DOWN
from ..engine.session import Session
from ..engine.signals import close_interruptibly
from ..protocol.parser import JSON_PARSER, Parser, parser_named
from ..rooms.adapter import Adapter
from ..rooms.memory import MemoryAdapter
from ..runtime import GC_FULL_EVERY, GC_THRESHOLD
from .broadcast import BroadcastOperator, Broadcasts
from .client import Client
from .clientfiles import route_client_files
from .handlers import spawn
from .handoff import ServerHandoff
from .namespace import Middleware, Namespace, ParentNamespace
from .recovery import RecoveryOptions

__all__ = ["NamespaceMatcher", "Server"]

logger = logging.getLogger("roomcast")

F = TypeVar("F", bound=Callable[..., Any])
NamespaceMatcher = Callable[[str, dict[str, Any]], "bool | Awaitable[bool]"]
"""``matcher(name, auth)``: whether a client may connect to (and create) namespace ``name``."""
AdapterFactory = Callable[[Namespace], Adapter]


class Server(Broadcasts):
    """A Socket.IO v4 server (protocol 5) with Node socket.io 4.8's behaviour.

    ``Server(**engine_options)`` passes Engine.IO options (``ping_interval``, ``max_payload``,
    ``transports``, ``cors``, ``cookie``, ``initial_headers``, ``headers``... see
    :class:`~roomcast.engine.options.EngineOptions`) to its engine, :attr:`engine`, on which
    ``io.engine.use(middleware)`` adds HTTP middlewares as Node's ``io.engine.use``;
    ``cors_origins`` is a shorthand for ``cors=CorsOptions(origins=...)``. The main
    namespace ``/`` is the server itself: ``io.on``, ``io.use``, ``io.emit``, ``io.to``... act
    on it. ``connect_timeout`` (seconds) closes a connection that joins no namespace in time.

    Limits: ``max_attachments`` binary attachments per packet (more closes the connection as a
    parse error); ``max_namespaces`` namespaces joined by one connection (a CONNECT past it gets
    CONNECT_ERROR ``Too many namespaces``); ``max_pending_acks`` acks one socket may owe (past
    it the oldest ``emit_with_ack`` fails with ``AckTimeoutError``).

    ``serve_client`` (default on, as Node's ``serveClient``): answer ``<path>socket.io.js`` (and
    the other builds of ``socket.io-client/dist``) with the official client when it is installed.

    ``parser``: how packets go on the wire, for every client: ``"json"`` (default, Node's
    default parser) or ``"msgpack"`` (npm ``socket.io-msgpack-parser``; needs the ``msgpack``
    package: ``pip install roomcast[msgpack]``), or a :class:`~roomcast.protocol.parser.Parser`.
    ``connection_state_recovery``: a :class:`~roomcast.socketio.recovery.RecoveryOptions` turns
    on Node's connection state recovery (off by default): a client that drops and comes back
    within the window gets its socket back (``socket.recovered``), with the events it missed.
    """

    def __init__(
        self,
        *,
        cors_origins: str | Sequence[str | re.Pattern[str]] | None = None,
        connect_timeout: float = 45.0,
        adapter: AdapterFactory = MemoryAdapter,
        cleanup_empty_child_namespaces: bool = False,
        max_attachments: int = 10,
        max_namespaces: int = 100,
        max_pending_acks: int = 1000,
        serve_client: bool = True,
        parser: Parser | str = JSON_PARSER,
        connection_state_recovery: RecoveryOptions | None = None,
        **engine_options: Any,
    ) -> None:
        self.parser = parser_named(parser) if isinstance(parser, str) else parser
        """The Socket.IO parser of every connection (:class:`~roomcast.protocol.parser.Parser`)."""
        if cors_origins is not None and "cors" not in engine_options:
            engine_options["cors"] = CorsOptions(origins=cors_origins)
        self.engine = Engine(**engine_options)
        self.engine.on_connection = self._on_connection
        self.engine.handoff = ServerHandoff(self)
        self.connect_timeout = connect_timeout
        self.adapter_factory = adapter
        self.cleanup_empty_child_namespaces = cleanup_empty_child_namespaces
        self.max_attachments = max_attachments
        self.max_namespaces = max_namespaces
        self.max_pending_acks = max_pending_acks
        self.serve_client = serve_client
        self.connection_state_recovery = connection_state_recovery
        """The recovery options (None: recovery off)."""
        self._nsps: dict[str, Namespace] = {}
        self._parents: list[tuple[re.Pattern[str] | NamespaceMatcher, ParentNamespace]] = []
        self._listener: Listener | None = None
        self._own_listener = False
        self._started = False
        self.namespace_refusals: dict[str, int] = {}
        """Namespace CONNECTs refused before any middleware, by message (for metrics)."""
        self.sockets: Namespace = self.of("/")
        """The main namespace ``/``."""

    def __repr__(self) -> str:
        return f"<Server nsps={sorted(self._nsps)}>"

    # namespaces

    def of(self, name: str | re.Pattern[str] | NamespaceMatcher) -> Namespace:
        """The namespace ``name`` (made on first use). With a compiled regex or a callable
        ``(name, auth) -> bool`` (sync or async), a parent namespace whose children are made
        when a client connects to a matching name; its handlers and middleware apply to
        them all."""
        if not isinstance(name, str):
            parent = ParentNamespace(self)
            self._parents.append((name, parent))
            return parent
        if not name.startswith("/"):
            name = "/" + name
        nsp = self._nsps.get(name)
        if nsp is not None:
            return nsp
        for matcher, parent in self._parents:
            if isinstance(matcher, re.Pattern) and matcher.search(name):
                return parent.create_child(name)
        nsp = Namespace(self, name)
        self.register_namespace(nsp)
        return nsp

    @property
    def namespaces(self) -> dict[str, Namespace]:
        """The namespaces by name (children of dynamic ones included)."""
        return dict(self._nsps)

    # Internal API of the Socket.IO layer (used by Client and Namespace), not for applications.

    def get_namespace(self, name: str) -> Namespace | None:
        """The namespace registered as ``name``, or ``None`` (dynamic parents not consulted)."""
        return self._nsps.get(name)

    def register_namespace(self, nsp: Namespace) -> None:
        """Add ``nsp`` (a new static namespace or a dynamic child); start its adapter if the
        server runs."""
        self._nsps[nsp.name] = nsp
        if self._started:
            spawn(nsp.adapter.init())

    def unregister_namespace(self, nsp: Namespace) -> None:
        """Remove ``nsp`` (a dynamic child left empty) and close its adapter."""
        if self._nsps.get(nsp.name) is nsp:
            del self._nsps[nsp.name]
            spawn(nsp.adapter.close())

    def match_dynamic(
        self, name: str, auth: dict[str, Any], start: int = 0
    ) -> Namespace | Awaitable[Namespace | None] | None:
        """The child namespace for ``name`` if a parent accepts it (a coroutine if a matcher
        is async)."""
        for index in range(start, len(self._parents)):
            matcher, parent = self._parents[index]
            if isinstance(matcher, re.Pattern):
                allowed: Any = matcher.search(name) is not None
            else:
                try:
                    allowed = matcher(name, auth)
                except Exception:
                    logger.exception("namespace matcher failed for %r", name)
                    continue
            if inspect.isawaitable(allowed):
                return self._match_async(name, auth, index, allowed)
            if allowed:
                return self._nsps.get(name) or parent.create_child(name)
        return None

    async def _match_async(
        self, name: str, auth: dict[str, Any], index: int, pending: Awaitable[bool]
    ) -> Namespace | None:
        try:
            allowed = await pending
        except Exception:
            logger.exception("namespace matcher failed for %r", name)
            allowed = False
        if allowed:
            return self._nsps.get(name) or self._parents[index][1].create_child(name)
        rest = self.match_dynamic(name, auth, index + 1)
        return await rest if inspect.isawaitable(rest) else rest

    # the main namespace

    def use(self, middleware: Middleware) -> Middleware:
        """Add a connect middleware to the main namespace (see :meth:`Namespace.use`)."""
        return self.sockets.use(middleware)

    def on(self, event: str, handler: F | None = None) -> Any:
        """Register a handler on the main namespace (see :meth:`Namespace.on`)."""
        return self.sockets.on(event, handler)

    def _operator(self) -> BroadcastOperator:
        return self.sockets._operator()

    def server_side_emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to the main namespace of the other servers (see the adapter)."""
        self.sockets.server_side_emit(event, *args)

    async def server_side_emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = None
    ) -> list[Any]:
        """See :meth:`Namespace.server_side_emit_with_ack` (main namespace)."""
        return await self.sockets.server_side_emit_with_ack(event, *args, timeout=timeout)

    def on_server_side_emit(self, event: str, handler: F | None = None) -> Any:
        """See :meth:`Namespace.on_server_side_emit` (main namespace)."""
        return self.sockets.on_server_side_emit(event, handler)

    def set_adapter(self, adapter: AdapterFactory) -> None:
        """Make every namespace, those that exist already included, use ``adapter`` (e.g.
        :func:`roomcast.rooms.redis.redis_adapter`). Call it before the server starts."""
        if self._started:
            raise RuntimeError("set the adapter before the server starts")
        self.adapter_factory = adapter
        for nsp in self._nsps.values():
            nsp.adapter = adapter(nsp)

    # connections

    def _on_connection(self, session: Session) -> None:
        Client(self, session)

    # serving

    @property
    def active_listener(self) -> Listener | None:
        """The listener serving this server, or ``None`` if none was made yet (unlike
        :attr:`listener`, never makes one)."""
        return self._listener

    @property
    def listener(self) -> Listener:
        """The HTTP listener serving this server (made on first use): add routes to it."""
        if self._listener is None:
            self._listener = Listener()
            self._listener.mount(self.engine)
            self._own_listener = True
            if self.serve_client:
                route_client_files(self._listener, self.engine.options.path)
        return self._listener

    def attach(self, listener: Listener, path: str | None = None) -> Server:
        """Serve on ``listener`` (shared with other engines) at ``path`` (default: the
        engine's ``path`` option)."""
        listener.mount(self.engine, path)
        self._listener = listener
        self._own_listener = False
        if self.serve_client:
            route_client_files(listener, path or self.engine.options.path)
        return self

    async def start(self) -> None:
        """Start the namespaces' adapters (once; :meth:`listen` and the ASGI app's lifespan
        startup call it)."""
        if not self._started:
            self._started = True
            for nsp in list(self._nsps.values()):
                await nsp.adapter.init()

    async def listen(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl: SSLContext | None = None,
        forwarded_allow_ips: str | Iterable[str] | None = None,
    ) -> Listener:
        """Start listening on ``host:port`` (``0``: any free port, see ``io.listener.port``).

        ``ssl`` (see :func:`~roomcast.engine.listener.tls_context`): serve ``https://`` and
        ``wss://``. ``forwarded_allow_ips``: the reverse proxies whose ``X-Forwarded-For`` gives
        ``socket.handshake.address`` (see :class:`~roomcast.engine.http.ProxyTrust`).
        """
        await self.start()
        listener = self.listener
        if forwarded_allow_ips is not None:
            listener.proxies = ProxyTrust(forwarded_allow_ips)
        await listener.start(host, port, ssl=ssl)
        return listener

    @contextlib.asynccontextmanager
    async def serve(
        self, host: str = "127.0.0.1", port: int = 0, **options: Any
    ) -> AsyncIterator[Server]:
        """``async with io.serve(host, port):`` listen (``options`` as :meth:`listen`), then
        close gracefully on exit."""
        await self.listen(host, port, **options)
        try:
            yield self
        finally:
            await self.close()

    def run(
        self,
        host: str = "127.0.0.1",
        port: int = 8000,
        *,
        loop: str = "auto",
        gc_threshold: int | None = GC_THRESHOLD,
        gc_full_every: int | None = GC_FULL_EVERY,
        **options: Any,
    ) -> None:
        """Serve until SIGINT or SIGTERM, then close gracefully (blocking); a second SIGINT
        stops waiting for the clients. ``options`` as :meth:`listen` (``ssl``,
        ``forwarded_allow_ips``). ``loop``: ``auto`` (uvloop if installed), ``asyncio`` or
        ``uvloop``; ``gc_threshold``, ``gc_full_every``: once listening, the start-up objects are
        frozen, full collections spaced out and, with a number, the young generation's
        threshold raised (see :mod:`roomcast.runtime`)."""

        async def main() -> None:
            stop = asyncio.Event()
            running = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    running.add_signal_handler(sig, stop.set)
            await self.listen(host, port, **options)
            runtime.tune_gc(gc_threshold, gc_full_every)
            try:
                scheme = "https" if options.get("ssl") else "http"
                logger.info("serving on %s://%s:%d", scheme, host, self.listener.port)
                await stop.wait()
            finally:
                logger.info("shutting down")
                await close_interruptibly(self.close())  # a second Ctrl-C stops waiting

        runtime.run(main(), loop)

    async def close(self, timeout: float = 10.0) -> None:
        """Disconnect every socket (``server shutting down``), close the adapters and the
        engine (and the listener, if this server made it)."""
        for nsp in list(self._nsps.values()):
            for socket in list(nsp.sockets.values()):
                socket.detach(SERVER_SHUTTING_DOWN)
            await nsp.adapter.close()
        if self._own_listener and self._listener is not None:
            await self._listener.close(timeout)
        else:
            await self.engine.close(timeout)
        self._started = False
