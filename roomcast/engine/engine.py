"""The Engine.IO server: checks requests like Node's engine.io 6, makes sessions, feeds transports.

Usable on its own, like Node's ``engine.io`` package::

    engine = Engine(path="/engine.io/")

    @engine.on("connection")
    def connected(session: Session) -> None:
        session.send("hello")

    @engine.on("message")
    def message(session: Session, data: str | bytes) -> None:
        session.send(data)

    async with Listener() as listener:
        listener.mount(engine)
        await listener.start("127.0.0.1", 8000)
"""

from __future__ import annotations

import asyncio
import base64
import collections
import dataclasses
import inspect
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

from ..protocol.jsoncodec import dumps
from .budget import OpenWebSocket, WriteBudget
from .cors import cors_headers, preflight
from .handoff import ArrivingSession, Owner, SessionHandoff
from .hooks import (
    AnswerHooks,
    CookieOptions,
    Middleware,
    MiddlewareResult,
    apply_header_hooks,
    run_middlewares,
)
from .http import HttpProtocol, Request, Response
from .options import EngineOptions
from .polling import PollingTransport
from .reasons import SERVER_SHUTTING_DOWN
from .session import COUNTERS, Session, Transport
from .websocket import WebSocketTransport, WriteBatch, open_websocket

__all__ = ["ERROR_MESSAGES", "Engine"]

logger = logging.getLogger("roomcast.engine")

(
    UNKNOWN_TRANSPORT,
    UNKNOWN_SID,
    BAD_HANDSHAKE_METHOD,
    BAD_REQUEST,
    FORBIDDEN,
    UNSUPPORTED_PROTOCOL,
    TOO_MANY_CONNECTIONS,
) = range(7)
ERROR_MESSAGES = {
    UNKNOWN_TRANSPORT: "Transport unknown",
    UNKNOWN_SID: "Session ID unknown",
    BAD_HANDSHAKE_METHOD: "Bad handshake method",
    BAD_REQUEST: "Bad request",
    FORBIDDEN: "Forbidden",
    UNSUPPORTED_PROTOCOL: "Unsupported protocol version",
    TOO_MANY_CONNECTIONS: "Too many connections",
}
"""Node engine.io's error codes (0-5) and the messages of their JSON bodies; code 6 is ours:
a handshake refused because ``max_connections`` sessions are open (HTTP 503)."""

_INVALID_HEADER_CHAR = re.compile(r"[^\t\x20-\x7e\x80-\xff]")

Headers = list[tuple[str, str]]
_F = TypeVar("_F", bound=Callable[..., Any])
_ALIASES = {"connect": "connection", "disconnect": "close"}
_Refusal = tuple[int, str | None]


def _call(handler: Callable[..., Any], *args: Any) -> None:
    """Run a user handler; a coroutine it returns runs as a task, errors are logged."""
    try:
        result = handler(*args)
    except Exception:
        logger.exception("error in engine handler %r", handler)
        return
    if inspect.isawaitable(result):
        task = asyncio.ensure_future(result)
        task.add_done_callback(_log_task_error)


def _log_task_error(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("error in engine handler", exc_info=task.exception())


class Engine:
    """An Engine.IO v4 server: mount it on a :class:`~roomcast.engine.listener.Listener`."""

    def __init__(self, options: EngineOptions | None = None, **kwargs: Any) -> None:
        if options is None:
            options = EngineOptions(**kwargs)
        elif kwargs:
            options = dataclasses.replace(options, **kwargs)
        self.options = options
        self.sessions: dict[str, Session] = {}
        """Open sessions by sid."""
        self.sid_prefix = ""
        """Put before the random part of every new sid (a cluster names the owning server with
        it, see :mod:`roomcast.cluster.forward`); the random part keeps its 144 bits."""
        self.on_connection: Callable[[Session], Any] | None = None
        """Called with each new session, once its open packet is queued."""
        self.handoff: SessionHandoff | None = None
        """What moves the state above a session to another server of a cluster (set by the
        Socket.IO server; see :mod:`roomcast.engine.handoff`). ``None``: sessions never move."""
        self.moved: collections.OrderedDict[str, None] = collections.OrderedDict()
        """Sids of sessions that moved to another server (the latest ones)."""
        self._handlers: dict[str, list[Callable[..., Any]]] = {
            "connection": [],
            "message": [],
            "close": [],
        }
        self._websockets: set[OpenWebSocket] = set()
        self._budget = WriteBudget(options.max_write_buffer_total, self.sessions, self._websockets)
        self.budget = self._budget
        """The unsent bytes of all sessions (``max_write_buffer_total``); internal, for the
        drivers' transports to count their buffers in."""
        # one flush per loop iteration for every WebSocket
        self._write_batch = WriteBatch(self._budget)
        self._closing = False
        self._full_logged = False
        self._idle: asyncio.Event | None = None
        self.middlewares: list[Middleware] | None = None
        """The middlewares added by :meth:`use`, in order (``None``: none)."""
        cookie = options.cookie
        self.hooks: AnswerHooks | None = None
        """The cookie and header hooks of the options (read here, at construction), or ``None``
        when none is set."""
        if cookie is not None or options.initial_headers or options.headers:
            self.hooks = AnswerHooks(
                cookie if isinstance(cookie, CookieOptions) else None,
                options.initial_headers,
                options.headers,
            )
        # Plain counters for metrics, read when scraped.
        self.handshakes = 0
        """Sessions opened."""
        self.refusals: dict[str, int] = {}
        """Requests refused, by the error message answered (handshakes and session requests)."""
        self.closes: dict[str, int] = {}
        """Sessions closed, by reason."""
        self.closed_totals = dict.fromkeys(COUNTERS, 0)
        """The traffic counters (see ``Session``) of the sessions closed so far, summed."""

    def __repr__(self) -> str:
        return f"<Engine {self.options.path} sessions={len(self.sessions)}>"

    # raw-engine API

    @overload
    def on(self, event: str) -> Callable[[_F], _F]: ...

    @overload
    def on(self, event: str, handler: _F) -> _F: ...

    def on(self, event: str, handler: _F | None = None) -> _F | Callable[[_F], _F]:
        """Register a handler (also usable as a decorator).

        ``"connection"`` (or ``"connect"``): ``handler(session)``; ``"message"``:
        ``handler(session, data)``; ``"close"`` (or ``"disconnect"``):
        ``handler(session, reason, description)``. Handlers may be coroutines.
        """
        event = _ALIASES.get(event, event)
        if event not in self._handlers:
            raise ValueError(f"unknown engine event {event!r}")

        def register(function: _F) -> _F:
            self._handlers[event].append(function)
            return function

        return register if handler is None else register(handler)

    def use(self, middleware: Middleware) -> Middleware:
        """Add a middleware run on every Engine.IO HTTP request (handshake, polling GET and POST,
        WebSocket upgrade) before the request is checked and before ``allow_request``, as
        Node's ``engine.use``. Sync or async, it returns ``None`` to let the request go on or a
        :class:`~roomcast.engine.http.Response` to refuse it with that answer (on an upgrade it
        is written and the connection closed); it may annotate the request (``request.state``).
        One that raises refuses with ``{"code":3,"message":"Bad request"}`` (400). CORS
        preflights are answered before middlewares run. Usable as a decorator."""
        if self.middlewares is None:
            self.middlewares = []
        self.middlewares.append(middleware)
        return middleware

    def _connected(self, session: Session) -> None:
        handlers = self._handlers
        message_handlers = handlers["message"]
        if message_handlers:

            def on_message(data: str | bytes) -> None:
                for handler in message_handlers:
                    _call(handler, session, data)

            session.on_message = on_message
        close_handlers = handlers["close"]
        if close_handlers:

            def on_close(reason: str, description: str | None) -> None:
                for handler in close_handlers:
                    _call(handler, session, reason, description)

            session.on_close = on_close
        if self.on_connection is not None:
            _call(self.on_connection, session)
        for handler in handlers["connection"]:
            _call(handler, session)

    # requests

    def cors_headers(self, request: Request) -> Headers:
        """The CORS headers of an answer to ``request`` (none without the ``cors`` option)."""
        cors = self.options.cors
        return cors_headers(cors, request) if cors is not None else []

    def _error(self, refusal: _Refusal, headers: Headers) -> Response:
        code, message = refusal
        self._count_refusal(code)
        body = dumps({"code": code, "message": message or ERROR_MESSAGES[code]}).encode()
        logger.debug("refused request: %s", body)
        status = 403 if code == FORBIDDEN else 503 if code == TOO_MANY_CONNECTIONS else 400
        return Response(status, [*headers, ("Content-Type", "application/json")], body)

    def _count_refusal(self, code: int) -> None:
        reason = ERROR_MESSAGES[code]
        self.refusals[reason] = self.refusals.get(reason, 0) + 1

    def _verify(self, request: Request, *, upgrade: bool) -> _Refusal | None:
        """Node's ``verify()`` without ``allowRequest``."""
        query = request.query
        transport = query.get("transport")
        if transport not in self.options.transports:
            return UNKNOWN_TRANSPORT, None
        origin = request.headers.get("origin")
        if origin and _INVALID_HEADER_CHAR.search(origin):
            return BAD_REQUEST, None
        sid = query.get("sid")
        if sid:
            session = self.sessions.get(sid)
            if session is None:
                if sid in self.moved:  # it upgraded (on another server): as Node answers then
                    return BAD_REQUEST, None
                return UNKNOWN_SID, None
            if not upgrade and session.transport_name != transport:
                return BAD_REQUEST, None
            if query.get("EIO") != "4":
                return BAD_REQUEST, None
            return None
        if request.method != "GET":
            return BAD_HANDSHAKE_METHOD, None
        if transport == "websocket" and not upgrade:
            return BAD_REQUEST, None
        return None

    def _allow(self, request: Request) -> _Refusal | Awaitable[_Refusal | None] | None:
        allow_request = self.options.allow_request
        if allow_request is None or request.query.get("sid"):
            return None
        result = allow_request(request)
        if inspect.isawaitable(result):

            async def wait() -> _Refusal | None:
                return _refusal(await result)

            return wait()
        return _refusal(result)

    def handle_http(self, request: Request) -> Response | Awaitable[Response]:
        """Serve a polling request (GET, POST) or a CORS preflight; internal, used by Listener."""
        headers = self.cors_headers(request)
        if self.options.cors is not None and request.method == "OPTIONS":
            return preflight(self.options.cors, request)
        middlewares = self.middlewares
        if middlewares is not None:
            decided = run_middlewares(middlewares, request)
            if inspect.isawaitable(decided):
                return self._http_after_middlewares(decided, request, headers)
            if decided is not None:
                return self._middleware_refusal(decided, headers)
        return self._serve_http(request, headers)

    async def _http_after_middlewares(
        self, decided: Awaitable[MiddlewareResult], request: Request, headers: Headers
    ) -> Response:
        result = await decided
        if result is not None:
            return self._middleware_refusal(result, headers)
        return await _resolve(self._serve_http(request, headers))

    def _middleware_refusal(self, result: Response | Exception, headers: Headers) -> Response:
        if isinstance(result, Response):  # a copy: the middleware may return a shared one
            return Response(result.status, [*headers, *result.headers], result.body, result.close)
        return self._error((BAD_REQUEST, None), headers)

    def _serve_http(self, request: Request, headers: Headers) -> Response | Awaitable[Response]:
        refusal = self._verify(request, upgrade=False)
        if refusal is not None:
            return self._error(refusal, headers)
        sid = request.query.get("sid")
        if sid:
            transport = self.sessions[sid].transport
            assert isinstance(transport, PollingTransport)
            return transport.on_request(request, headers)
        allowed = self._allow(request)
        if inspect.isawaitable(allowed):
            return self._handshake_later(allowed, request, headers)
        if allowed is not None:
            return self._error(allowed, headers)
        return self._handshake_polling(request, headers)

    async def _handshake_later(
        self, allowed: Awaitable[_Refusal | None], request: Request, headers: Headers
    ) -> Response:
        refusal = await allowed
        if refusal is not None:
            return self._error(refusal, headers)
        return await _resolve(self._handshake_polling(request, headers))

    def _handshake_polling(
        self, request: Request, headers: Headers
    ) -> Response | asyncio.Future[Response]:
        if request.query.get("EIO") != "4":
            return self._error((UNSUPPORTED_PROTOCOL, None), headers)
        if self._closing:
            return Response(503, headers)
        if self._full():
            return self._error((TOO_MANY_CONNECTIONS, None), headers)
        transport = PollingTransport(self.hooks)
        session = self._new_session(request, transport)
        transport.session = session
        response = transport.on_request(request, headers)
        self._connected(session)
        return response

    def _new_session(self, request: Request, transport: Transport) -> Session:
        # 144 random bits, 24 URL-safe characters (Node's base64id has 120 bits, 20 characters)
        sid = self.sid_prefix + base64.urlsafe_b64encode(secrets.token_bytes(18)).decode()
        session = Session(sid, request, transport, self.options, self._session_closed, self._budget)
        self.sessions[sid] = session
        self.handshakes += 1
        upgrades = (
            ["websocket"]
            if (
                transport.name == "polling"
                and self.options.allow_upgrades
                and "websocket" in self.options.transports
            )
            else []
        )
        options = self.options
        session.start(
            "0"
            + dumps(
                {
                    "sid": sid,
                    "upgrades": upgrades,
                    "pingInterval": round(options.ping_interval * 1000),
                    "pingTimeout": round(options.ping_timeout * 1000),
                    "maxPayload": options.max_payload,
                }
            )
        )
        return session

    def session_closed(self, session: Session) -> None:
        """``session`` has finished: forget it and count it; internal (sessions call it)."""
        self._session_closed(session)

    def _session_closed(self, session: Session) -> None:
        if self.sessions.get(session.sid) is session:
            del self.sessions[session.sid]
        reason = session.close_reason
        self.closes[reason] = self.closes.get(reason, 0) + 1
        totals = self.closed_totals
        for name in COUNTERS:
            totals[name] += getattr(session, name)
        self._check_idle()

    # WebSocket

    def handle_upgrade(
        self, request: Request, connection: HttpProtocol
    ) -> Response | Awaitable[Response | None] | None:
        """Serve a WebSocket upgrade request; internal, used by Listener."""
        decision = self.check_upgrade(request)
        if inspect.isawaitable(decision):
            return self._upgrade_later(decision, request, connection)
        if decision is not None:
            return decision
        self._upgrade(request, connection)
        return None

    async def _upgrade_later(
        self, decision: Awaitable[Response | None], request: Request, connection: HttpProtocol
    ) -> Response | None:
        refusal = await decision
        if refusal is not None:
            return refusal
        self._upgrade(request, connection)
        return None

    def check_upgrade(self, request: Request) -> Response | Awaitable[Response | None] | None:
        """Whether to accept a WebSocket upgrade request: ``None`` (accept) or the refusal to
        answer with, now or later. The middlewares of :meth:`use` first, then the request's
        checks, then ``allow_request`` (either may be async). Internal, used by the drivers
        (Listener, ``roomcast.asgi``); then :meth:`upgrade_headers` and
        :meth:`attach_websocket`."""
        middlewares = self.middlewares
        if middlewares is not None:
            decided = run_middlewares(middlewares, request)
            if inspect.isawaitable(decided):
                return self._check_after_middlewares(decided, request)
            if decided is not None:
                return self._upgrade_middleware_refusal(decided)
        return self._check_request(request)

    async def _check_after_middlewares(
        self, decided: Awaitable[MiddlewareResult], request: Request
    ) -> Response | None:
        result = await decided
        if result is not None:
            return self._upgrade_middleware_refusal(result)
        checked = self._check_request(request)
        return await checked if inspect.isawaitable(checked) else checked

    def _upgrade_middleware_refusal(self, result: Response | Exception) -> Response:
        """A middleware's answer (Node drops the connection; we answer and close), or 400
        if it raised."""
        if isinstance(result, Response):
            return Response(result.status, result.headers, result.body, close=True)
        return self._abort_upgrade((BAD_REQUEST, None))

    def _check_request(self, request: Request) -> Response | Awaitable[Response | None] | None:
        refusal = self._verify(request, upgrade=True)
        if refusal is not None:
            return self._abort_upgrade(refusal)
        allowed = self._allow(request)
        if inspect.isawaitable(allowed):
            return self._check_upgrade_later(allowed, request)
        if allowed is not None:
            return self._abort_upgrade(allowed)
        return self._upgrade_refusal(request)

    def upgrade_headers(self, request: Request) -> Headers:
        """The extra headers of an accepted upgrade's 101 answer: CORS, then the
        ``initial_headers``/``headers`` hooks. Internal, used by the drivers."""
        headers = self.cors_headers(request)
        if self.hooks is not None:
            headers = apply_header_hooks(self.hooks, headers, request, None)
        return headers

    async def _check_upgrade_later(
        self, allowed: Awaitable[_Refusal | None], request: Request
    ) -> Response | None:
        refusal = await allowed
        if refusal is not None:
            return self._abort_upgrade(refusal)
        return self._upgrade_refusal(request)

    def _upgrade_refusal(self, request: Request) -> Response | None:
        sid = request.query.get("sid")
        if not sid and request.query.get("EIO") != "4":
            return self._abort_upgrade((UNSUPPORTED_PROTOCOL, None))
        if self._closing and not sid:
            return Response(503, [], close=True)
        if not sid and self._full():
            return self._abort_upgrade((TOO_MANY_CONNECTIONS, None))
        return None

    def _abort_upgrade(self, refusal: _Refusal) -> Response:
        """Node's ``abortUpgrade``: always 400, the message as a text/html body."""
        code, message = refusal
        self._count_refusal(code)
        logger.debug("refused upgrade: %s", message or ERROR_MESSAGES[code])
        body = (message or ERROR_MESSAGES[code]).encode()
        status = 503 if code == TOO_MANY_CONNECTIONS else 400
        return Response(status, [("Content-type", "text/html")], body, close=True)

    def _full(self) -> bool:
        """Whether ``max_connections`` sessions are open (a new handshake is refused)."""
        limit = self.options.max_connections
        if limit is None or len(self.sessions) < limit:
            self._full_logged = False
            return False
        if not self._full_logged:  # once per time the limit is reached, not per refusal
            self._full_logged = True
            logger.warning(
                "engine %s: %d sessions open, refusing handshakes", self.options.path, limit
            )
        return True

    def _upgrade(self, request: Request, connection: HttpProtocol) -> None:
        ws = self._open_websocket(request, connection)
        if ws is not None:
            self.attach_websocket(request, ws)

    def check_moving(self, request: Request) -> Response | Awaitable[Response | None] | None:
        """Whether to accept the WebSocket upgrade ``request`` of a session another server has
        (see :meth:`accept_moving`): the middlewares of :meth:`use`, then the request's own
        checks (the session's are the owner's). ``None``: accept; else the refusal, now or
        later. Internal, used by the cluster's listener."""
        middlewares = self.middlewares
        if middlewares is not None:
            decided = run_middlewares(middlewares, request)
            if inspect.isawaitable(decided):
                return self._check_moving_later(decided, request)
            if decided is not None:
                return self._upgrade_middleware_refusal(decided)
        return self._check_moving_request(request)

    async def _check_moving_later(
        self, decided: Awaitable[MiddlewareResult], request: Request
    ) -> Response | None:
        result = await decided
        if result is not None:
            return self._upgrade_middleware_refusal(result)
        return self._check_moving_request(request)

    def _check_moving_request(self, request: Request) -> Response | None:
        query = request.query
        if query.get("transport") != "websocket" or "websocket" not in self.options.transports:
            return self._abort_upgrade((UNKNOWN_TRANSPORT, None))
        origin = request.headers.get("origin")
        if query.get("EIO") != "4" or (origin and _INVALID_HEADER_CHAR.search(origin)):
            return self._abort_upgrade((BAD_REQUEST, None))
        return None

    def accept_moving(self, request: Request, connection: HttpProtocol, owner: Owner) -> None:
        """Accept the WebSocket upgrade ``request`` of a polling session that ``owner`` (another
        server) has, and move the session here as the upgrade goes on (see
        :mod:`roomcast.engine.handoff`); internal, used by the cluster's listener."""
        ws = self._open_websocket(request, connection)
        if ws is None:
            return
        self._websockets.add(ws)
        ws.session = ArrivingSession(self, request, ws, owner)
        ws.start()

    def _open_websocket(
        self, request: Request, connection: HttpProtocol
    ) -> WebSocketTransport | None:
        if connection.transport is None or connection.transport.is_closing():
            return None  # the client left while allow_request was running
        transport, raw = connection.detach()
        options = self.options
        ws = open_websocket(
            transport,
            raw,
            max_payload=options.max_payload,
            compression=options.websocket_compression,
            extra_headers=self.upgrade_headers(request),
            close_timeout=options.websocket_close_timeout,
            ping_interval=options.websocket_ping_interval,
            batch=self._write_batch,
            headers=request.headers,
        )
        if ws is not None:
            ws.on_lost = self.websocket_lost
        return ws

    def attach_websocket(self, request: Request, ws: OpenWebSocket) -> None:
        """Give an accepted WebSocket its session: a new one, or the polling session it
        upgrades (the probe); close it if neither is possible. Internal, used by the drivers;
        the driver calls :meth:`websocket_lost` once the connection is gone."""
        self._websockets.add(ws)
        if request.query.get("transport") != "websocket":
            ws.close()
            return
        sid = request.query.get("sid")
        if sid:
            session = self.sessions.get(sid)
            if session is None or session.closed or session.upgrading or session.upgraded:
                logger.info("refused websocket for session %s: upgrade not possible", sid)
                ws.close()
            elif session.transport_name != "polling":
                logger.info("refused second websocket for session %s", sid)
                ws.close()
            else:
                ws.session = session
                session.begin_upgrade(ws)
                ws.start()
            return
        session = self._new_session(request, ws)
        ws.session = session
        self._connected(session)
        ws.start()

    def websocket_lost(self, ws: OpenWebSocket) -> None:
        """The connection of ``ws`` is gone; internal, called by the drivers."""
        self._websockets.discard(ws)
        self._check_idle()

    # shutdown

    def _check_idle(self) -> None:
        if self._idle is not None and not self.sessions and not self._websockets:
            self._idle.set()

    async def close(self, timeout: float = 10.0) -> None:
        """Close every session (``server shutting down``) and wait, up to ``timeout``, for them
        to finish: a WebSocket's closing handshake, an upgrade under way. A polling session
        gets its close packet on its pending GET; with no GET waiting it cannot be told, so
        it is closed at once (its queue dropped), as Node does. What is left at the deadline
        is dropped."""
        self._closing = True
        self._idle = asyncio.Event()
        for session in list(self.sessions.values()):
            transport = session.transport
            unreachable = (
                transport.name == "polling" and not transport.writable and not session.upgrading
            )
            session.close(SERVER_SHUTTING_DOWN)
            if unreachable:
                session.finish(SERVER_SHUTTING_DOWN, None)
        self._check_idle()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            logger.info("engine %s: closing did not finish in %.1f s", self.options.path, timeout)
        for session in list(self.sessions.values()):
            session.finish(SERVER_SHUTTING_DOWN, None)
        for ws in list(self._websockets):
            ws.abort()


def _refusal(result: bool | str | None) -> _Refusal | None:
    if result is True:
        return None
    if isinstance(result, str) and result:
        return FORBIDDEN, result
    return FORBIDDEN, None


async def _resolve(result: Response | Awaitable[Response]) -> Response:
    if isinstance(result, Response):
        return result
    return await result
