"""Namespaces: each has its own sockets, rooms (adapter), connect middleware and handlers."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ..engine.prepared import PreparedMessage
from ..errors import AckTimeoutError, ConnectionRefused
from ..protocol.errors import ReservedEventName
from ..protocol.socketio import Packet, PacketType
from ..rooms.adapter import (
    Adapter,
    BroadcastOptions,
    PersistedSession,
    RequestTimeout,
    RestoredSession,
)
from ..rooms.memory import MemoryAdapter
from .broadcast import BroadcastOperator, Broadcasts
from .handlers import call_handler, spawn, takes_ack
from .socket import Socket

if TYPE_CHECKING:
    from .client import Client
    from .server import Server

__all__ = ["Namespace", "ParentNamespace"]

logger = logging.getLogger("roomcast")

F = TypeVar("F", bound=Callable[..., Any])
Middleware = Callable[["Socket"], "Awaitable[None] | None"]
"""``mw(socket)``: return to accept; raise :class:`ConnectionRefused` to refuse."""

RESERVED_NAMESPACE_EMITS = frozenset({"connect", "connection", "new_namespace"})


class Namespace(Broadcasts):
    """A communication channel multiplexed on the connections: ``io.of("/chat")``.

    ``on("connection")`` handlers get ``(socket)``; ``on("disconnecting")`` and
    ``on("disconnect")`` handlers get ``(socket, reason)``; any other event's handlers get
    ``(socket, *args)`` for every socket of the namespace, and their return value answers the
    client's ack (declare a keyword-only ``ack`` parameter to answer later instead).
    """

    def __init__(self, server: Server, name: str, parent: ParentNamespace | None = None) -> None:
        self.server = server
        self.name = name
        self.parent = parent
        self.sockets: dict[str, Socket] = {}
        """The connected sockets by id."""
        self._middlewares: list[Middleware] = []
        self._handlers: dict[str, list[tuple[Callable[..., Any], bool]]] = {}
        self._server_handlers: dict[str, list[tuple[Callable[..., Any], bool]]] = {}
        self._ids = 0
        self.encode = server.parser.encode
        """Encode a packet with the server's parser (the adapter broadcasts with it)."""
        recovery = server.connection_state_recovery
        self.recovery_window: float | None = (
            None if recovery is None else recovery.max_disconnection_duration
        )
        """Seconds a dropped socket's session is kept for recovery (None: recovery off)."""
        self._pids: dict[str, Socket] = {}
        """Connected sockets by private id (recovery on only)."""
        self._restoring: set[str] = set()
        """Private ids being restored right now."""
        self.adapter: Adapter = self._make_adapter()
        # Plain counters for metrics, read when scraped.
        self.connects = 0
        """Sockets that connected."""
        self.refused = 0
        """Connections its middleware refused."""
        self.ack_timeouts = 0
        """``emit_with_ack`` calls (to a socket or a broadcast) that timed out."""

    def _make_adapter(self) -> Adapter:
        return self.server.adapter_factory(self)

    def __repr__(self) -> str:
        return f"<Namespace {self.name} sockets={len(self.sockets)}>"

    # what the adapter needs

    def prepare(self, messages: Sequence[str | bytes], compress: bool = True) -> PreparedMessage:
        """Wrap encoded messages once for every recipient of a broadcast."""
        return PreparedMessage(messages, compress)

    def next_ack_id(self) -> int:
        """A fresh ack id (one counter per namespace, as in Node)."""
        ack_id = self._ids
        self._ids += 1
        return ack_id

    # registration

    def use(self, middleware: Middleware) -> Middleware:
        """Add a connect middleware (usable as a decorator). They run in order, before
        ``connection``; raising :class:`ConnectionRefused` refuses the connection."""
        self._middlewares.append(middleware)
        return middleware

    def on(self, event: str, handler: F | None = None) -> Any:
        """Register ``handler`` for ``event``; without ``handler``, return a decorator."""
        if handler is None:

            def decorator(fn: F) -> F:
                self.on(event, fn)
                return fn

            return decorator
        self._handlers.setdefault(event, []).append((handler, takes_ack(handler)))
        return handler

    def off(self, event: str, handler: Callable[..., Any] | None = None) -> None:
        """Remove one handler of ``event``, or all of them."""
        if handler is None:
            self._handlers.pop(event, None)
            return
        handlers = self._handlers.get(event, [])
        self._handlers[event] = [h for h in handlers if h[0] is not handler]

    def handlers(self, event: str) -> list[tuple[Callable[..., Any], bool]]:
        """The handlers of ``event`` (a parent namespace's first), as ``(fn, takes_ack)``."""
        own = self._handlers.get(event)
        if self.parent is None:
            return own or []
        inherited = self.parent.handlers(event)
        return inherited + own if own else inherited

    def middlewares(self) -> list[Middleware]:
        """The connect middleware chain (a parent namespace's first)."""
        if self.parent is None:
            return self._middlewares
        return self.parent.middlewares() + self._middlewares

    # broadcasting

    def _operator(self) -> BroadcastOperator:
        return BroadcastOperator(self.adapter)

    async def all_sockets(self) -> set[str]:
        """The ids of the namespace's local sockets."""
        return self.adapter.sockets()

    def server_side_emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to this namespace on the other servers of the cluster (through the
        adapter; nothing happens with a single server)."""
        if event in RESERVED_NAMESPACE_EMITS:
            raise ReservedEventName(f'"{event}" is a reserved event name')
        self.adapter.server_side_emit([event, *args])

    async def server_side_emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = None
    ) -> list[Any]:
        """Send ``event`` to this namespace on the other servers and return their answers (one
        per server). Raises :class:`~roomcast.errors.AckTimeoutError` (answers so far in
        ``.responses``) when some are missing after ``timeout`` seconds (default: the adapter's
        request timeout). ``[]`` with a single server."""
        if event in RESERVED_NAMESPACE_EMITS:
            raise ReservedEventName(f'"{event}" is a reserved event name')
        try:
            return await self.adapter.server_side_emit_with_ack([event, *args], timeout)
        except RequestTimeout as exc:
            raise AckTimeoutError(str(exc), responses=exc.responses) from None

    def on_server_side_emit(self, event: str, handler: F | None = None) -> Any:
        """Register ``handler(*args)`` for ``event`` sent by another server's
        :meth:`server_side_emit` (usable as a decorator). Its return value answers
        :meth:`server_side_emit_with_ack` (or declare a keyword-only ``ack`` parameter)."""
        if handler is None:

            def decorator(fn: F) -> F:
                self.on_server_side_emit(event, fn)
                return fn

            return decorator
        self._server_handlers.setdefault(event, []).append((handler, takes_ack(handler)))
        return handler

    def receive_server_side_emit(self, args: list[Any], ack: Callable[[Any], None] | None) -> None:
        """Run the handlers of a server-side emit from another server (``[event, *args]``);
        called by the cluster adapter (see ``NamespaceLike.receive_server_side_emit``)."""
        event = str(args[0])
        reply = None
        if ack is not None:

            def reply(*values: Any) -> None:  # only one answer per server, like Node
                ack(values[0] if values else None)

        for fn, pass_ack in list(self._server_handlers.get(event, ())):
            call_handler(
                fn,
                args[1:],
                what=f"server-side event {event!r}",
                socket_id="-",
                ack=reply,
                pass_ack=pass_ack,
            )

    # connecting sockets

    # Internal API of the Socket.IO layer (used by Client and Socket).

    def admit(self, client: Client, auth: dict[str, Any]) -> None:
        """Run the middleware for a new socket of ``client``, then connect it or refuse it.
        With recovery on, a CONNECT carrying ``pid`` and ``offset`` first asks the adapter for
        the session (the socket comes back recovered if it is found)."""
        if self.recovery_window is not None:
            pid = auth.get("pid")
            offset = auth.get("offset")
            if isinstance(pid, str) and isinstance(offset, str):
                spawn(self._recover(client, auth, pid, offset))
                return
        socket = Socket(self, client, auth)
        middlewares = self.middlewares()
        if not middlewares:
            self._do_connect(socket)
            return
        # Plain functions run now; a task is made only if one of them returns an awaitable.
        for index, middleware in enumerate(middlewares):
            try:
                result = middleware(socket)
            except Exception as exc:
                self._middlewares_done(socket, self._refusal(exc))
                return
            if inspect.isawaitable(result):
                spawn(self._finish_middlewares(socket, result, middlewares[index + 1 :]))
                return
        if self._middlewares_done(socket, None):
            self._do_connect(socket)

    async def _finish_middlewares(
        self, socket: Socket, pending: Awaitable[None], rest: list[Middleware]
    ) -> None:
        if await self._run_middlewares(socket, rest, pending):
            self._do_connect(socket)

    async def _recover(self, client: Client, auth: dict[str, Any], pid: str, offset: str) -> None:
        if pid in self._restoring:  # the same session asked for twice at once: one wins
            await self._connect_new(Socket(self, client, auth))
            return
        self._restoring.add(pid)
        try:
            await self._restore(client, auth, pid, offset)
        finally:
            self._restoring.discard(pid)

    async def _restore(self, client: Client, auth: dict[str, Any], pid: str, offset: str) -> None:
        old = self._pids.get(pid)
        if old is not None and old.client is not client:
            # The client is back while its old connection still looks open: the network
            # dropped and the server has not noticed yet (it would at the ping timeout). That
            # connection is dead: close it now so the socket can be recovered (Node waits,
            # and the client comes back as a new socket).
            logger.debug("socket %s: its client is back, closing the old connection", old.id)
            old.client.close()
        session: RestoredSession | None = None
        try:
            session = await self.adapter.restore_session(pid, offset)
        except Exception:
            logger.exception("restoring session failed (namespace %s)", self.name)
        if session is not None and client.closed:
            self.adapter.persist_session(_persisted(session))  # for the client's next attempt
            return
        if session is None or session.sid in self.sockets:
            if not client.closed:
                await self._connect_new(Socket(self, client, auth))
            return
        socket = Socket(self, client, auth, session)
        middlewares = self.middlewares()
        recovery = self.server.connection_state_recovery
        if not middlewares or (recovery is not None and recovery.skip_middlewares):
            self._do_connect(socket)
            return
        # The middleware may take a while: keep the session meanwhile, and afterwards fetch
        # what was broadcast during it too (Node loses those packets).
        self.adapter.persist_session(_persisted(session))
        if not await self._run_middlewares(socket, middlewares):
            return
        missed = session.missed_packets
        since = missed[-1][-1] if missed else offset
        more = None
        try:
            more = await self.adapter.restore_session(pid, since)
        except Exception:
            logger.exception("restoring session failed (namespace %s)", self.name)
        if more is not None:
            missed.extend(more.missed_packets)
        else:
            logger.warning(
                "socket %s recovered: packets broadcast during its middleware may be missing",
                socket.id,
            )
        if client.closed:
            socket.discard()
            return
        self._do_connect(socket)

    async def _connect_new(self, socket: Socket) -> None:
        middlewares = self.middlewares()
        if middlewares:
            await self._connect_after_middlewares(socket, middlewares)
        else:
            self._do_connect(socket)

    async def _connect_after_middlewares(
        self, socket: Socket, middlewares: list[Middleware]
    ) -> None:
        if await self._run_middlewares(socket, middlewares):
            self._do_connect(socket)

    async def _run_middlewares(
        self,
        socket: Socket,
        middlewares: list[Middleware],
        pending: Awaitable[None] | None = None,
    ) -> bool:
        """Run the connect middleware (after ``pending``, one already started); refuse the
        socket (and return False) if one fails."""
        error: dict[str, Any] | None = None
        try:
            if pending is not None:
                await pending
            for middleware in middlewares:
                result = middleware(socket)
                if inspect.isawaitable(result):
                    await result
        except Exception as exc:
            error = self._refusal(exc)
        return self._middlewares_done(socket, error)

    def _refusal(self, exc: Exception) -> dict[str, Any]:
        """The CONNECT_ERROR data for a middleware's exception (logged unless a refusal)."""
        if isinstance(exc, ConnectionRefused):
            return {"message": exc.message, "data": exc.data}
        logger.error("connect middleware failed (namespace %s)", self.name, exc_info=exc)
        return {"message": "Internal server error", "data": None}

    def _middlewares_done(self, socket: Socket, error: dict[str, Any] | None) -> bool:
        """Refuse the socket with ``error``, or drop it if its client left meanwhile; True if
        it may connect."""
        if socket.client.closed:
            socket.discard()
            return False
        if error is not None:
            self.refused += 1
            socket.discard()
            if error["data"] is None:
                del error["data"]
            socket.send_packet(Packet(PacketType.CONNECT_ERROR, data=error))
            return False
        return True

    def _do_connect(self, socket: Socket) -> None:
        self.connects += 1
        self.sockets[socket.id] = socket
        if socket.pid is not None:
            self._pids[socket.pid] = socket
        socket.accept()
        socket.client.add_socket(socket)
        for handler, _ in self.handlers("connect") + self.handlers("connection"):
            call_handler(handler, (socket,), what="connection", socket_id=socket.id)

    def adopt(self, socket: Socket) -> None:
        """Take ``socket`` (already in its rooms), moved here from another server with its
        session: it connects without a CONNECT answer (the client is connected already) and
        without the middleware (it passed them there); ``connection`` handlers run, with
        ``socket.recovered`` true, so that handlers registered on the socket exist here too."""
        self.sockets[socket.id] = socket
        if socket.pid is not None:
            self._pids[socket.pid] = socket
        socket.connected = True
        socket.join(socket.id)
        socket.client.add_socket(socket)
        for handler, _ in self.handlers("connect") + self.handlers("connection"):
            call_handler(handler, (socket,), what="connection", socket_id=socket.id)

    def remove_socket(self, socket: Socket) -> None:
        """Forget ``socket``; a dynamic child left empty unregisters itself (if configured)."""
        self.sockets.pop(socket.id, None)
        if socket.pid is not None and self._pids.get(socket.pid) is socket:
            del self._pids[socket.pid]
        parent = self.parent
        if parent is not None and not self.sockets and self.server.cleanup_empty_child_namespaces:
            parent.children.discard(self)
            self.server.unregister_namespace(self)


def _persisted(session: RestoredSession) -> PersistedSession:
    return PersistedSession(session.sid, session.pid, session.rooms, session.data)


class ParentNamespace(Namespace):
    """The namespace made by ``io.of(regex)`` or ``io.of(callable)``: it makes a child namespace
    for each matching name a client connects to. Its middleware and handlers apply to every
    child; its broadcasts reach every child."""

    _count = 0

    def __init__(self, server: Server) -> None:
        ParentNamespace._count += 1
        self.children: set[Namespace] = set()
        super().__init__(server, f"/_{ParentNamespace._count - 1}")

    def _make_adapter(self) -> Adapter:
        return _ParentAdapter(self)

    def create_child(self, name: str) -> Namespace:
        """Make (and register on the server) the child namespace ``name``."""
        child = Namespace(self.server, name, parent=self)
        self.children.add(child)
        self.server.register_namespace(child)
        return child

    async def fetch_sockets(self) -> list[Any]:
        raise NotImplementedError("fetch_sockets() is not supported on parent namespaces")


class _ParentAdapter(MemoryAdapter):
    """Sends a parent namespace's broadcasts to each of its children."""

    nsp: ParentNamespace

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        data = packet.data
        for child in list(self.nsp.children):
            # a copy each: with recovery on, each child's adapter appends its own offset
            copy = list(data) if isinstance(data, list) else data
            child.adapter.broadcast(Packet(packet.type, child.name, copy, packet.id), opts)
