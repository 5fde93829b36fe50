"""Keeping every request of an Engine.IO session on the process that owns it.

With ``--workers N`` the kernel spreads TCP connections over N processes listening on one port
(``SO_REUSEPORT``). A WebSocket-only session lives on one connection, so it stays where it
started; a long-polling session makes many requests, and each may land on any process.

:class:`ForwardingListener` serves the shared port and also a unix socket of its own. A request
that names a session (``sid``) this process does not have is sent on to the other workers' unix
sockets until the owner answers (the owner found is remembered): polling GETs and POSTs are
relayed as one HTTP exchange each, and a WebSocket upgrade of a polling session is handed to
the owner and then piped byte for byte. Requests that were forwarded once are never forwarded
again. Everything else (handshakes, WebSocket-only sessions, plain routes) is served locally.

A relayed POST takes a longer way back than the GET answer it may cause (an ack) when that GET
is on the owner. So the owner keeps the session's GET answers until the relaying worker, having
written the POST's answer, says so on the same unix connection: answers leave in the order a
single process writes them.

Across hosts (``roomcast serve --advertise HOST:PORT``) the same relay runs over TCP: every
sid names its owner (node id and worker index, see :mod:`roomcast.cluster.registry`), so the
owner's address is known without probing, and each worker also listens on its cluster port
(``PORT + worker index``) for the other servers. Connections between servers are kept alive
and reused (one HTTP exchange at a time each): a relayed request costs one round trip, not a
new connection. Relays are bounded: a connect timeout, an answer timeout (longer than a
long-polling GET may wait), and at most :data:`MAX_IN_FLIGHT` relays at once (more get 503).
An owner that cannot be reached or does not know the session means the session is gone: the
request gets the engine's own "Session ID unknown" answer, and the client reconnects.

Across hosts, a WebSocket upgrade of another server's session is not piped: the session moves
to the server the upgrade reached, its owner handing it over in step with the upgrade (see
:mod:`roomcast.engine.handoff`, requests marked with :data:`HANDOFF_HEADER`), so that the
client then depends on that server only. It is piped as before when the owner is a worker of
this host, and when the session cannot move (its sockets' ``data`` is not JSON).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from ssl import SSLContext
from typing import Any, cast

import websockets.asyncio.client
from websockets.asyncio.client import ClientConnection

from ..engine.handoff import STAYS, SessionStays, hand_over
from ..engine.http import HttpProtocol, Request, Response, Router
from ..engine.listener import Listener
from ..engine.polling import PollingTransport

__all__ = [
    "FORWARDED_HEADER",
    "Address",
    "ForwardStats",
    "ForwardingListener",
    "Lookup",
    "SidRouting",
    "reuse_port_socket",
]

logger = logging.getLogger("roomcast.cluster")

FORWARDED_HEADER = "x-roomcast-forwarded"
"""Marks a request one worker sent to another (it is not forwarded again)."""
ABORTED_HEADER = "x-roomcast-aborted"
"""On a relayed request whose body was not read whole: ``timeout`` (late, ``timed_out``) or
``size`` (too large, ``truncated``); the owner answers it as the relaying worker would have."""
HANDOFF_HEADER = "x-roomcast-handoff"
"""Marks a step of a session's handoff (``prepare``, ``probe``, ``take``, ``cancel``: see
:mod:`roomcast.engine.handoff`) sent to the session's owner."""
RELEASE_HEADER = "x-roomcast-release"
"""Marks the message a worker sends the owner once a relayed POST's answer is out."""
HOLD_TIMEOUT = 5.0
"""Seconds an owner keeps a session's GET answers for a relayed POST at most (if the relaying
worker never says its answer is out)."""

_HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "content-length", "transfer-encoding", "upgrade", "date"}
)
_OWN_WEBSOCKET_HEADERS = _HOP_HEADERS | {
    "host",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
    FORWARDED_HEADER,
    RELEASE_HEADER,
    HANDOFF_HEADER,
}
"""Headers of a client's upgrade that the pipe's own WebSocket handshake sets itself."""
_MAX_OWNERS = 100_000
CONNECT_TIMEOUT = 3.0
"""Seconds to connect to another server (or worker) at most."""
ANSWER_MARGIN = 10.0
"""Seconds an answer may take beyond the engine's ping interval + ping timeout (a long-polling
GET waits for at most about the ping interval)."""
MAX_IN_FLIGHT = 10_000
"""Relays under way at once, at most, per process (one more gets 503 Service Unavailable)."""
MAX_IDLE = 32
"""Idle kept-alive connections kept per server or worker."""
IDLE_REUSE = 2.0
"""Seconds an idle connection is reused for (the owner closes it after 5 s idle)."""

Address = str | tuple[str, int]
"""A unix socket path (a worker on this host) or ``(host, port)`` (another server)."""
Lookup = Callable[[str], Awaitable[str | None]]
"""``await lookup(node_id)``: the ``"host:port"`` a node advertises, or ``None``."""


@dataclass
class ForwardStats:
    """What this process relayed to other processes since it started."""

    requests: int = 0
    """Polling requests relayed and answered by their owner."""
    upgrades: int = 0
    """WebSocket upgrades piped to their owner."""
    handoffs: int = 0
    """WebSocket upgrades whose session moved here from its owner (started; see
    :mod:`roomcast.engine.handoff`)."""
    gone: int = 0
    """Requests whose owner could not be reached or did not know the session."""
    refused: int = 0
    """Requests refused with 503 (:data:`MAX_IN_FLIGHT` relays were under way)."""
    seconds: float = 0.0
    """Total time of the relayed exchanges (a long-polling GET's wait included)."""
    reused: int = 0
    """Relays that reused a kept-alive connection."""


class SidRouting:
    """Reads a sid's owner from the sid: node ``node_id``'s worker ``worker`` makes sids with
    :attr:`prefix`; ``workers`` are the unix sockets of this node's workers (by index, empty for
    a single process); ``lookup`` finds another node's address."""

    def __init__(self, node_id: str, worker: int, workers: Sequence[str], lookup: Lookup) -> None:
        from .registry import cluster_prefix

        self.node_id = node_id
        self.worker = worker
        self.workers = list(workers)
        self.lookup = lookup
        self.prefix = cluster_prefix(node_id, worker)

    async def owner(self, sid: str) -> Address | None:
        """Where the owner of ``sid`` listens; ``None`` if that is here or nowhere."""
        from .registry import owner_of

        named = owner_of(sid)
        if named is None:
            return None
        node, worker = named
        if node == self.node_id:
            if worker == self.worker or worker >= len(self.workers):
                return None
            return self.workers[worker]
        address = await self.lookup(node)
        if address is None:
            return None
        host, _, port = address.rpartition(":")
        if not port.isdigit():
            return None
        return (host.strip("[]"), int(port) + worker)


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with ``SO_REUSEPORT``, so that several processes can
    listen on the same port (the kernel spreads connections between them)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class ForwardingListener(Listener):
    """A :class:`Listener` that forwards requests of sessions it does not own to the workers
    listening on the unix sockets ``peers`` (see the module docstring)."""

    def __init__(
        self,
        sock: socket.socket,
        own_path: str | None,
        peers: Sequence[str],
        *,
        routing: SidRouting | None = None,
        cluster_sock: socket.socket | None = None,
        on_start: Callable[[], Awaitable[None]] | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__()
        self.sock = sock
        """The bound TCP socket served (see :func:`reuse_port_socket`)."""
        self.own_path = own_path
        self.peers = list(peers)
        self.routing = routing
        """With ``--advertise``: sids name their owner (else the ``peers`` are asked in turn)."""
        self.cluster_sock = cluster_sock
        """The bound TCP socket the other servers of the cluster send requests to."""
        self.stats = ForwardStats()
        self.connect_timeout = CONNECT_TIMEOUT
        """Seconds to connect to the owner, at most (and to get its upgrade answer)."""
        self.answer_margin = ANSWER_MARGIN
        """Seconds an answer may take beyond the engine's ping interval + ping timeout."""
        self.max_in_flight = MAX_IN_FLIGHT
        """Relays under way at once, at most (one more gets 503)."""
        self._on_start = on_start
        self._on_close = on_close
        self._idle: dict[Address, list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]]]
        self._idle = {}
        self._owners: collections.OrderedDict[str, Address] = collections.OrderedDict()
        self._holds: dict[str, collections.deque[_Hold]] = {}
        """Per sid, the holds of the POSTs relayed to us whose answers are not yet out."""
        self._tasks: set[asyncio.Future[None]] = set()
        """The relays under way."""
        self.forwarded = 0
        """Requests of other workers' sessions forwarded to them (for metrics)."""
        self._relayed_gets: dict[str, asyncio.Future[Response]] = {}
        """Per sid, the engine's pending GET that another server relayed to us."""

    async def start(
        self,
        host: str = "",
        port: int = 0,
        *,
        sock: socket.socket | None = None,
        reuse_port: bool = False,
        ssl: SSLContext | None = None,
    ) -> None:
        """Call ``on_start``, then serve on :attr:`sock` (with ``ssl``, TLS; the other arguments
        are ignored: they describe that socket), on the unix socket ``own_path`` and on
        :attr:`cluster_sock`."""
        if self._on_start is not None:  # e.g. join the cluster's registry
            await self._on_start()
        await super().start(sock=self.sock, ssl=ssl)
        loop = asyncio.get_running_loop()
        # the unix socket and the cluster port are where relayed requests come from: the
        # headers marking them are believed there only (they are removed on the public port)
        trusted = super()._make_protocol
        if self.own_path is not None:
            self._unix_servers.append(await loop.create_unix_server(trusted, self.own_path))
        if self.cluster_sock is not None:
            server = await loop.create_server(trusted, sock=self.cluster_sock)
            self._unix_servers.append(server)  # closed with the others
        if self.routing is not None:
            for _, engine in self.engines:
                engine.sid_prefix = self.routing.prefix

    async def close(self, timeout: float = 10.0) -> None:
        """Leave the cluster (``on_close``), then close as a :class:`Listener` does."""
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            await on_close()
        for idle in self._idle.values():
            for _, writer, _ in idle:
                writer.close()
        self._idle.clear()
        s = self.stats
        if s.requests or s.upgrades or s.gone or s.refused or s.handoffs:
            logger.info(
                "forwarded %d requests (%.1f ms mean), %d upgrades, %d handoffs begun; "
                "%d to gone sessions, %d refused",
                s.requests,
                1000 * s.seconds / max(s.requests, 1),
                s.upgrades,
                s.handoffs,
                s.gone,
                s.refused,
            )
        await super().close(timeout)

    def _make_protocol(self, secure: bool = False, router: Router | None = None) -> HttpProtocol:
        """A connection to the public port: requests there cannot pass for relayed ones."""
        return super()._make_protocol(secure, router or _Public(self))  # headers checked first

    # routing

    def _foreign_sid(self, request: Request) -> str | None:
        """The sid of a request to forward: one this process does not have."""
        sid = request.query.get("sid")
        if not sid or FORWARDED_HEADER in request.headers:
            return None
        if not self.peers and self.routing is None:
            return None
        engine = self._engine_for(request.url)
        if engine is None or sid in engine.sessions:
            return None
        return sid

    def handle(self, request: Request) -> Response | Awaitable[Response]:
        sid = self._foreign_sid(request)
        if sid is None:
            if FORWARDED_HEADER in request.headers:
                return self._relayed(request)
            if request.method == "GET" and self._relayed_gets:
                self._forget_relayed_get(request)
            return super().handle(request)
        if len(self._tasks) >= self.max_in_flight:
            self.stats.refused += 1
            return Response(503, [("Content-Type", "text/plain")], b"Busy", close=True)
        answer: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(self._forward(sid, request, answer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # the client gone (its connection closed, the answer cancelled): the relay goes too,
        # so the owner sees its request end as it would have seen the client's
        answer.add_done_callback(lambda done: task.cancel() if done.cancelled() else None)
        return answer

    # the owner's side of a relayed POST

    def _relayed(self, request: Request) -> Response | Awaitable[Response]:
        """A request another worker relayed to us: a POST of a session we own keeps that
        session's GET answers until the relaying worker says the POST's answer is out (a
        single process writes a POST's answer before the GET answer the POST causes, e.g.
        an ack; a client may rely on that order)."""
        sid = request.query.get("sid", "")
        aborted = request.headers.get(ABORTED_HEADER)
        if aborted is not None:
            request.timed_out = aborted == "timeout"
            request.truncated = aborted == "size"
        if RELEASE_HEADER in request.headers:
            holds = self._holds.get(sid)
            if holds:
                holds[0].release()
            return Response(204, [])
        engine = self._engine_for(request.url)
        stage = request.headers.get(HANDOFF_HEADER)
        if stage is not None:
            if engine is None:
                return Response(404, [])
            status, body = hand_over(engine, sid, stage)
            return Response(status, [("Content-Type", "application/json")], body)
        session = engine.sessions.get(sid) if engine is not None else None
        if request.method == "POST" and session is not None:
            holds = self._holds.setdefault(sid, collections.deque())
            holds.append(_Hold(sid, session.hold_polling_answers(), self._holds))
        if request.method != "GET" or session is None:
            return super().handle(request)
        self._forget_relayed_get(request)
        result = super().handle(request)
        if not isinstance(result, asyncio.Future) or result.done():
            return result
        return self._track_relayed_get(sid, result)

    # a relayed GET whose relay breaks (a server between the client and us died)

    def _track_relayed_get(
        self, sid: str, pending: asyncio.Future[Response]
    ) -> asyncio.Future[Response]:
        """The answer to give the relaying server for the engine's pending GET ``pending``: if
        that connection is lost first, the GET is forgotten but the session lives on (the
        client's GET failed with the server between; a load balancer may send it again)."""
        self._relayed_gets[sid] = pending
        proxy: asyncio.Future[Response] = asyncio.get_running_loop().create_future()

        def answered(done: asyncio.Future[Response]) -> None:
            if self._relayed_gets.get(sid) is done:
                del self._relayed_gets[sid]
            if proxy.done():
                return
            if done.cancelled():
                proxy.cancel()
            elif (exc := done.exception()) is not None:
                proxy.set_exception(exc)
            else:
                proxy.set_result(done.result())

        def lost(done: asyncio.Future[Response]) -> None:
            if done.cancelled() and not pending.done():
                self._forget(sid, pending)

        pending.add_done_callback(answered)
        proxy.add_done_callback(lost)
        return proxy

    def _forget_relayed_get(self, request: Request) -> None:
        """A GET for a session whose relayed GET still waits: that one's way is broken (a
        client has one GET at a time), and it must not make this one an overlap."""
        sid = request.query.get("sid", "")
        pending = self._relayed_gets.get(sid)
        if pending is not None:
            logger.info("session %s: GET again before its relayed GET ended: forgotten", sid)
            self._forget(sid, pending)

    def _forget(self, sid: str, pending: asyncio.Future[Response]) -> None:
        if self._relayed_gets.get(sid) is pending:
            del self._relayed_gets[sid]
        for _, engine in self.engines:
            session = engine.sessions.get(sid)
            if session is not None and isinstance(session.transport, PollingTransport):
                session.transport.forget_get(pending)

    async def _candidates(self, sid: str) -> list[Address]:
        if self.routing is not None:
            address = await self.routing.owner(sid)
            return [] if address is None else [address]
        owner = self._owners.get(sid)
        if owner is None:
            return list[Address](self.peers)
        return [owner, *(p for p in self.peers if p != owner)]

    def _remember(self, sid: str, peer: Address) -> None:
        self._owners[sid] = peer
        self._owners.move_to_end(sid)
        if len(self._owners) > _MAX_OWNERS:
            self._owners.popitem(last=False)

    async def _forward(self, sid: str, request: Request, answer: asyncio.Future[Response]) -> None:
        """Relay ``request`` to the owner of ``sid`` and set ``answer`` to its response. For a
        POST, the owner is then told once that answer is written (see :meth:`_relayed`)."""
        self.forwarded += 1
        try:
            response = await self._relay(sid, request, answer)
            if response is None:  # nobody has it: the engine's own answer
                self.stats.gone += 1
                self._owners.pop(sid, None)
                result = super().handle(request)
                response = await result if isinstance(result, Awaitable) else result
            if not answer.done():
                answer.set_result(response)
        except BaseException as exc:
            if not answer.done():
                answer.set_exception(exc)
            if not isinstance(exc, Exception):
                raise

    async def _relay(
        self, sid: str, request: Request, answer: asyncio.Future[Response]
    ) -> Response | None:
        raw = _serialize_request(request)
        engine = self._engine_for(request.url)
        answer_timeout = self.answer_margin + (
            engine.options.ping_interval + engine.options.ping_timeout if engine else 60.0
        )
        for peer in await self._candidates(sid):
            started = time.monotonic()
            try:
                reader, writer, response = await self._exchange(peer, raw, answer_timeout)
            except (TimeoutError, OSError) as exc:
                logger.warning("cannot relay to %s: %s", _name(peer), exc or "timeout")
                continue
            if _unknown_sid(response):
                self._park(peer, reader, writer, response)
                continue
            self.stats.requests += 1
            self.stats.seconds += time.monotonic() - started
            if self.routing is None:
                self._remember(sid, peer)
            if request.method != "POST":
                self._park(peer, reader, writer, response)
                return response
            if not answer.done():
                answer.set_result(response)
            # One turn of the loop: the client's connection writes the answer first
            # (answer's callbacks are due before this task's next step).
            await asyncio.sleep(0)
            try:
                writer.write(_release_request(request))
                released = await asyncio.wait_for(
                    _read_response(reader, peer), self.connect_timeout
                )
            except (TimeoutError, OSError):
                writer.close()
            else:
                self._park(peer, reader, writer, released)
            return response
        return None

    async def _exchange(
        self, peer: Address, raw: bytes, timeout: float
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Response]:
        """Send ``raw`` to ``peer`` on an idle kept-alive connection if there is one (again on
        a new one if the owner had just closed it), and read the answer."""
        idle = self._idle.get(peer)
        now = time.monotonic()
        while idle:
            reader, writer, since = idle.pop()
            if now - since > IDLE_REUSE or reader.at_eof() or writer.is_closing():
                writer.close()
                continue
            writer.write(raw)
            try:
                response = await asyncio.wait_for(_read_response(reader, peer), timeout)
            except _Closed:  # closed by the owner before it read the request
                writer.close()
                break
            except BaseException:
                writer.close()
                raise
            self.stats.reused += 1
            return reader, writer, response
        reader, writer = await asyncio.wait_for(_connect(peer), self.connect_timeout)
        try:
            writer.write(raw)
            response = await asyncio.wait_for(_read_response(reader, peer), timeout)
        except BaseException:
            writer.close()
            raise
        return reader, writer, response

    def _park(
        self,
        peer: Address,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        response: Response,
    ) -> None:
        """Keep a connection whose exchange is over for the next relay to ``peer``."""
        idle = self._idle.setdefault(peer, [])
        if response.close or len(idle) >= MAX_IDLE or writer.is_closing():
            writer.close()
            return
        idle.append((reader, writer, time.monotonic()))

    def handle_upgrade(
        self, request: Request, connection: HttpProtocol
    ) -> Response | Awaitable[Response | None] | None:
        sid = self._foreign_sid(request)
        if sid is None:
            return super().handle_upgrade(request, connection)
        self.forwarded += 1
        return self._upgrade_foreign(sid, request, connection)

    async def _upgrade_foreign(
        self, sid: str, request: Request, connection: HttpProtocol
    ) -> Response | None:
        """The WebSocket upgrade of another server's session: the session moves here (its
        owner on another host hands it over), or the WebSocket is piped to the owner (a
        worker of this host, or a session that cannot move)."""
        engine = self._engine_for(request.url)
        peer = None if self.routing is None else await self.routing.owner(sid)
        if isinstance(peer, tuple) and engine is not None and engine.handoff is not None:
            owner = _Owner(self, peer, request.url)
            answer = await owner.ask("prepare")
            if answer is None or answer.status == 404:  # gone: as the engine answers then
                self.stats.gone += 1
                return Response(
                    400, [("Content-type", "text/html")], b"Session ID unknown", close=True
                )
            if answer.status == 200:
                refused = engine.check_moving(request)  # the engine's middlewares run here
                if inspect.isawaitable(refused):
                    refused = await refused
                if refused is not None:
                    return refused
                self.stats.handoffs += 1
                engine.accept_moving(request, connection, owner)
                return None
        if connection.transport is None or connection.transport.is_closing():
            return None
        transport, raw = connection.detach()
        return await self._forward_upgrade(sid, transport, _mark_forwarded(raw))

    async def _forward_upgrade(
        self, sid: str, client: asyncio.Transport, raw: bytes
    ) -> Response | None:
        loop = asyncio.get_running_loop()
        failure = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        for peer in await self._candidates(sid):
            try:
                if isinstance(peer, str):
                    connecting = loop.create_unix_connection(_Upstream, peer)
                else:
                    connecting = loop.create_connection(_Upstream, *peer)
                upstream_transport, upstream = await asyncio.wait_for(
                    connecting, self.connect_timeout
                )
            except (TimeoutError, OSError) as exc:
                logger.warning("cannot reach %s: %s", _name(peer), exc or "timeout")
                continue
            upstream_transport.write(raw)
            try:
                head = await asyncio.wait_for(upstream.head, self.connect_timeout)
            except TimeoutError:
                upstream_transport.close()
                continue
            if head.startswith(b"HTTP/1.1 101"):
                self.stats.upgrades += 1
                if self.routing is None:
                    self._remember(sid, peer)
                _splice(client, upstream_transport, upstream, head)
                return None
            failure = head
            upstream_transport.close()
        if not client.is_closing():
            client.write(failure)
            client.close()
        return None


class _Public:
    """The router of the public port: the listener, without the relay's own headers."""

    __slots__ = ("_listener",)

    def __init__(self, listener: ForwardingListener) -> None:
        self._listener = listener

    def body_limit(self, path: str) -> int:
        return self._listener.body_limit(path)

    def body_timeout(self, path: str) -> float | None:
        return self._listener.body_timeout(path)

    def handle(self, request: Request) -> Response | Awaitable[Response]:
        _strip(request)
        return self._listener.handle(request)

    def handle_upgrade(
        self, request: Request, connection: HttpProtocol
    ) -> Response | Awaitable[Response | None] | None:
        _strip(request)
        return self._listener.handle_upgrade(request, connection)


def _strip(request: Request) -> None:
    headers = request.headers
    if FORWARDED_HEADER in headers or RELEASE_HEADER in headers or HANDOFF_HEADER in headers:
        headers.pop(FORWARDED_HEADER, None)
        headers.pop(RELEASE_HEADER, None)
        headers.pop(HANDOFF_HEADER, None)


class _Owner:
    """The owner of a session moving here, reached over the cluster's kept-alive relay
    connections (an :class:`~roomcast.engine.handoff.Owner`)."""

    __slots__ = ("_listener", "_peer", "_url")

    def __init__(self, listener: ForwardingListener, peer: Address, url: str) -> None:
        self._listener = listener
        self._peer = peer
        self._url = url

    async def ask(self, stage: str) -> Response | None:
        """Send one step; the owner's answer, or ``None`` if it cannot be reached."""
        raw = (
            f"POST {self._url} HTTP/1.1\r\n{FORWARDED_HEADER}: 1\r\n{HANDOFF_HEADER}: {stage}"
            "\r\ncontent-length: 0\r\n\r\n"
        ).encode("latin-1")
        listener, peer = self._listener, self._peer
        try:
            reader, writer, answer = await listener._exchange(peer, raw, listener.connect_timeout)
        except (TimeoutError, OSError) as exc:
            logger.warning("cannot reach %s for a handoff: %s", _name(peer), exc or "timeout")
            return None
        listener._park(peer, reader, writer, answer)
        return answer

    async def probe(self) -> bool:
        answer = await self.ask("probe")
        return answer is not None and answer.status == 200

    async def take(self) -> dict[str, Any] | None:
        answer = await self.ask("take")
        if answer is not None and answer.status == 409 and answer.body == STAYS:
            raise SessionStays
        if answer is None or answer.status != 200:
            return None
        try:
            state = json.loads(answer.body)
        except ValueError:
            return None
        return state if isinstance(state, dict) else None

    async def connect(self, request: Request) -> ClientConnection | None:
        peer = self._peer
        if isinstance(peer, str):  # a worker of this host: its upgrades are piped byte by byte
            return None
        host, port = peer
        headers = [(k, v) for k, v in request.headers.items() if k not in _OWN_WEBSOCKET_HEADERS]
        headers.append((FORWARDED_HEADER, "1"))
        try:
            return await websockets.asyncio.client.connect(
                f"ws://{host}:{port}{self._url}",
                additional_headers=headers,
                user_agent_header=None,
                compression=None,
                open_timeout=self._listener.connect_timeout,
                ping_interval=None,  # the owner's Engine.IO pings pass through
                max_size=None,  # the owner's messages to its client: its own limits apply
            )
        except (TimeoutError, OSError, websockets.InvalidHandshake) as exc:
            logger.warning("cannot pipe to %s: %s", _name(self._peer), exc or "timeout")
            return None

    async def _cancel(self) -> None:
        await self.ask("cancel")

    def cancel(self) -> None:
        task = asyncio.ensure_future(self._cancel())
        self._listener._tasks.add(task)
        task.add_done_callback(self._listener._tasks.discard)


# one HTTP exchange over a unix socket


def _serialize_request(request: Request) -> bytes:
    """The request for the owner (kept alive: a POST's connection then carries
    :func:`_release_request`, and any connection is reused once its exchange is over)."""
    lines = [f"{request.method} {request.url} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in request.headers.items() if k not in _HOP_HEADERS]
    body = request.body
    if request.timed_out or request.truncated:  # what came is not the body: never read as one
        body = b""
        lines.append(f"{ABORTED_HEADER}: {'timeout' if request.timed_out else 'size'}")
    lines += [f"content-length: {len(body)}", f"{FORWARDED_HEADER}: 1"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _release_request(request: Request) -> bytes:
    """Tells the owner that the answer to the relayed POST ``request`` is out."""
    return (
        f"POST {request.url} HTTP/1.1\r\n{FORWARDED_HEADER}: 1\r\n{RELEASE_HEADER}: 1\r\n"
        "content-length: 0\r\n\r\n"
    ).encode("latin-1")


class _Hold:
    """The GET answers of one session kept for one relayed POST: released by the relaying
    worker's message, or after :data:`HOLD_TIMEOUT`."""

    __slots__ = ("_holds", "_release", "_timer", "sid")

    def __init__(
        self,
        sid: str,
        release: Callable[[], None],
        holds: dict[str, collections.deque[_Hold]],
    ) -> None:
        self.sid = sid
        self._release = release
        self._holds = holds
        self._timer = asyncio.get_running_loop().call_later(HOLD_TIMEOUT, self.release)

    def release(self) -> None:
        self._timer.cancel()
        queue = self._holds.get(self.sid)
        if queue is not None:
            with contextlib.suppress(ValueError):
                queue.remove(self)
            if not queue:
                del self._holds[self.sid]
        self._release()


def _mark_forwarded(raw: bytes) -> bytes:
    line_end = raw.index(b"\r\n")
    header = f"\r\n{FORWARDED_HEADER}: 1".encode()
    return raw[:line_end] + header + raw[line_end:]


class _Closed(OSError):
    """The connection was closed before any byte of the answer."""


async def _connect(peer: Address) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if isinstance(peer, str):
        return await asyncio.open_unix_connection(peer)
    return await asyncio.open_connection(*peer)


def _name(peer: Address) -> str:
    return peer if isinstance(peer, str) else f"{peer[0]}:{peer[1]}"


async def _read_response(reader: asyncio.StreamReader, peer: Address) -> Response:
    """One response from a worker or server (it always sends ``Content-Length``)."""
    path = _name(peer)
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise _Closed(f"no answer from {path}") from exc
        raise OSError(f"no answer from {path}") from exc
    lines = head[:-4].decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        raise OSError(f"bad answer from {path}: {lines[0]!r}") from None
    headers = []
    length = 0
    close = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if name.lower() == "content-length":
            length = int(value) if value.isdigit() else 0
        elif name.lower() == "connection":
            close = value.lower() == "close"
        if name.lower() not in _HOP_HEADERS:
            headers.append((name, value))
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError as exc:
        raise OSError(f"answer from {path} cut short") from exc
    return Response(status, headers, body, close)


def _unknown_sid(response: Response) -> bool:
    if response.status != 400:
        return False
    with contextlib.suppress(ValueError):
        return bool(json.loads(response.body).get("code") == 1)
    return False


# piping an upgraded connection


class _Upstream(asyncio.Protocol):
    """The connection to the owning worker: collects its response head, then pipes."""

    def __init__(self) -> None:
        self.head: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.peer: asyncio.Transport | None = None
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport (uvloop's TCPTransport is one without subclassing asyncio's)
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.peer is not None:
            _relay(data, self.peer, self.transport)
            return
        self._buffer += data
        if not self.head.done() and b"\r\n\r\n" in self._buffer:
            self.head.set_result(self._buffer)
            self._buffer = b""
            if self.transport is not None:
                self.transport.pause_reading()  # until spliced

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.head.done():
            self.head.set_result(self._buffer or b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
        if self.peer is not None:
            self.peer.close()

    def pause_writing(self) -> None:
        if self.peer is not None:
            self.peer.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None:
            self.peer.resume_reading()


class _Downstream(asyncio.Protocol):
    """The client's connection, piped to the owning worker."""

    def __init__(self, transport: asyncio.Transport, peer: asyncio.Transport) -> None:
        self.transport = transport
        self.peer = peer

    def data_received(self, data: bytes) -> None:
        _relay(data, self.peer, self.transport)

    def eof_received(self) -> bool | None:
        if self.peer.can_write_eof():
            self.peer.write_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.peer.close()

    def pause_writing(self) -> None:
        self.peer.pause_reading()

    def resume_writing(self) -> None:
        self.peer.resume_reading()


def _relay(data: bytes, to: asyncio.Transport, source: asyncio.Transport | None) -> None:
    # flow control: ``to``'s protocol pauses/resumes ``source`` (pause_writing/resume_writing)
    to.write(data)


def _splice(
    client: asyncio.Transport,
    upstream_transport: asyncio.Transport,
    upstream: _Upstream,
    head: bytes,
) -> None:
    client.write(head)  # the 101 answer and whatever frames came with it
    upstream.peer = client
    client.set_protocol(_Downstream(client, upstream_transport))
    client.resume_reading()
    upstream_transport.resume_reading()
