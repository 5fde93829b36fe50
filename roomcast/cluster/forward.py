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
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from ssl import SSLContext

from ..engine.http import HttpProtocol, Request, Response
from ..engine.listener import Listener

__all__ = ["FORWARDED_HEADER", "ForwardingListener", "reuse_port_socket"]

logger = logging.getLogger("roomcast.cluster")

FORWARDED_HEADER = "x-roomcast-forwarded"
"""Marks a request one worker sent to another (it is not forwarded again)."""
ABORTED_HEADER = "x-roomcast-aborted"
"""On a relayed request whose body was not read whole: ``timeout`` (late, ``timed_out``) or
``size`` (too large, ``truncated``); the owner answers it as the relaying worker would have."""
RELEASE_HEADER = "x-roomcast-release"
"""Marks the message a worker sends the owner once a relayed POST's answer is out."""
HOLD_TIMEOUT = 5.0
"""Seconds an owner keeps a session's GET answers for a relayed POST at most (if the relaying
worker never says its answer is out)."""

_HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "content-length", "transfer-encoding", "upgrade", "date"}
)
_MAX_OWNERS = 100_000


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

    def __init__(self, sock: socket.socket, own_path: str, peers: Sequence[str]) -> None:
        super().__init__()
        self.sock = sock
        """The bound TCP socket served (see :func:`reuse_port_socket`)."""
        self.own_path = own_path
        self.peers = list(peers)
        self._owners: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._holds: dict[str, collections.deque[_Hold]] = {}
        """Per sid, the holds of the POSTs relayed to us whose answers are not yet out."""
        self._tasks: set[asyncio.Future[None]] = set()
        """The relays under way."""
        self.forwarded = 0
        """Requests of other workers' sessions forwarded to them (for metrics)."""

    async def start(
        self,
        host: str = "",
        port: int = 0,
        *,
        sock: socket.socket | None = None,
        reuse_port: bool = False,
        ssl: SSLContext | None = None,
    ) -> None:
        """Serve on :attr:`sock` (with ``ssl``, TLS; the other arguments are ignored: they
        describe that socket) and on the unix socket ``own_path``."""
        await super().start(sock=self.sock, ssl=ssl)
        await self.start_unix(self.own_path)

    # routing

    def _foreign_sid(self, request: Request) -> str | None:
        """The sid of a request to forward: one this process does not have."""
        sid = request.query.get("sid")
        if not sid or not self.peers or FORWARDED_HEADER in request.headers:
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
            return super().handle(request)
        answer: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(self._forward(sid, request, answer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
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
            return Response(204, [], close=True)
        engine = self._engine_for(request.url)
        session = engine.sessions.get(sid) if engine is not None else None
        if request.method == "POST" and session is not None:
            holds = self._holds.setdefault(sid, collections.deque())
            holds.append(_Hold(sid, session.hold_polling_answers(), self._holds))
        return super().handle(request)

    def _candidates(self, sid: str) -> list[str]:
        owner = self._owners.get(sid)
        if owner is None:
            return self.peers
        return [owner, *(p for p in self.peers if p != owner)]

    def _remember(self, sid: str, peer: str) -> None:
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
        for peer in self._candidates(sid):
            try:
                reader, writer = await asyncio.open_unix_connection(peer)
            except OSError as exc:
                logger.warning("cannot reach worker %s: %s", peer, exc)
                continue
            try:
                try:
                    writer.write(raw)
                    response = await _read_response(reader, peer)
                except OSError as exc:
                    logger.warning("worker %s failed: %s", peer, exc)
                    continue
                if _unknown_sid(response):
                    continue
                self._remember(sid, peer)
                if request.method == "POST":
                    if not answer.done():
                        answer.set_result(response)
                    # One turn of the loop: the client's connection writes the answer first
                    # (answer's callbacks are due before this task's next step).
                    await asyncio.sleep(0)
                    with contextlib.suppress(OSError):
                        writer.write(_release_request(request))
                        await reader.read()
                return response
            finally:
                writer.close()
        return None

    def handle_upgrade(
        self, request: Request, connection: HttpProtocol
    ) -> Response | Awaitable[Response | None] | None:
        sid = self._foreign_sid(request)
        if sid is None:
            return super().handle_upgrade(request, connection)
        self.forwarded += 1
        transport, raw = connection.detach()
        return self._forward_upgrade(sid, transport, _mark_forwarded(raw))

    async def _forward_upgrade(
        self, sid: str, client: asyncio.Transport, raw: bytes
    ) -> Response | None:
        loop = asyncio.get_running_loop()
        failure = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        for peer in self._candidates(sid):
            try:
                upstream_transport, upstream = await loop.create_unix_connection(_Upstream, peer)
            except OSError as exc:
                logger.warning("cannot reach worker %s: %s", peer, exc)
                continue
            upstream_transport.write(raw)
            head = await upstream.head
            if head.startswith(b"HTTP/1.1 101"):
                self._remember(sid, peer)
                _splice(client, upstream_transport, upstream, head)
                return None
            failure = head
            upstream_transport.close()
        if not client.is_closing():
            client.write(failure)
            client.close()
        return None


# one HTTP exchange over a unix socket


def _serialize_request(request: Request) -> bytes:
    """The request for the owner: a POST keeps the connection open for :func:`_release_request`."""
    lines = [f"{request.method} {request.url} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in request.headers.items() if k not in _HOP_HEADERS]
    body = request.body
    if request.timed_out or request.truncated:  # what came is not the body: never read as one
        body = b""
        lines.append(f"{ABORTED_HEADER}: {'timeout' if request.timed_out else 'size'}")
    lines += [f"content-length: {len(body)}", f"{FORWARDED_HEADER}: 1"]
    if request.method != "POST":
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _release_request(request: Request) -> bytes:
    """Tells the owner that the answer to the relayed POST ``request`` is out."""
    return (
        f"POST {request.url} HTTP/1.1\r\n{FORWARDED_HEADER}: 1\r\n{RELEASE_HEADER}: 1\r\n"
        "content-length: 0\r\nconnection: close\r\n\r\n"
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


async def _read_response(reader: asyncio.StreamReader, path: str) -> Response:
    """One response from a worker (it always sends ``Content-Length``)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise OSError(f"no answer from worker {path}") from exc
    lines = head[:-4].decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        raise OSError(f"bad answer from worker {path}: {lines[0]!r}") from None
    headers = []
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if name.lower() == "content-length":
            length = int(value) if value.isdigit() else 0
        if name.lower() not in _HOP_HEADERS:
            headers.append((name, value))
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError as exc:
        raise OSError(f"answer from worker {path} cut short") from exc
    return Response(status, headers, body)


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
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

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
