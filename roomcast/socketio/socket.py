"""A socket: one client connected to one namespace over one Engine.IO session."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import inspect
import logging
import os
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, TypeVar

from ..engine.prepared import PreparedMessage
from ..errors import AckTimeoutError, SocketDisconnected
from ..protocol.errors import ReservedEventName
from ..protocol.socketio import RESERVED_EVENTS, Packet, PacketType
from ..rooms.adapter import Adapter, BroadcastFlags, BroadcastOptions, PersistedSession
from .acks import AckCallback, AckSender, AckWaiter, PendingAcks
from .broadcast import BroadcastOperator, Targets
from .handlers import NAMESPACE_EVENTS, call_handler, spawn, takes_ack
from .handshake import Handshake, js_date
from .recovery import RECOVERABLE_REASONS

if TYPE_CHECKING:
    from ..engine.session import Session
    from ..rooms.adapter import RestoredSession
    from .client import Client
    from .namespace import Namespace
    from .server import Server

__all__ = ["PacketMiddleware", "Socket", "SocketEmitter", "new_id"]

logger = logging.getLogger("roomcast")

F = TypeVar("F", bound=Callable[..., Any])
PacketMiddleware = Callable[[list[Any]], Any]
"""``mw([event, *args])``, sync or async: return to let the packet through, raise to refuse it
(the exception goes to the socket's ``error`` handlers)."""

SOCKET_EVENTS = frozenset({"disconnecting", "disconnect", "error"})
"""Events a socket emits itself; a client cannot trigger them."""


def new_id() -> str:
    """A random socket id: 15 random bytes in URL-safe base64 (20 characters, like Node's)."""
    return base64.urlsafe_b64encode(os.urandom(15)).decode()


class Socket(Targets):
    """One client in one namespace. ``id`` is its own per-namespace id (not the Engine.IO sid)
    and the name of a room it is always in."""

    __slots__ = (
        "_acks",
        "_any",
        "_any_outgoing",
        "_handlers",
        "_middlewares",
        "_missed",
        "_rooms_at_close",
        "client",
        "connected",
        "data",
        "handshake",
        "id",
        "nsp",
        "pid",
        "recovered",
        "sink",
    )

    def __init__(
        self,
        nsp: Namespace,
        client: Client,
        auth: dict[str, Any],
        session: RestoredSession | None = None,
    ) -> None:
        self.nsp = nsp
        self.client = client
        self.connected = False
        self.handshake = _handshake(client.session, auth)
        self._acks: PendingAcks | None = None
        self._handlers: dict[str, list[tuple[Callable[..., Any], bool]]] | None = None
        self._any: list[Callable[..., Any]] | None = None
        self._any_outgoing: list[Callable[..., Any]] | None = None
        self._middlewares: list[PacketMiddleware] | None = None
        self._rooms_at_close: set[str] | None = None
        self._missed: list[list[Any]] | None = None
        self.sink: Callable[[bytes, bool], bool] | None = None
        """The session's broadcast fast path (:attr:`Session.sink`), or None when it has none
        or an ``on_any_outgoing`` listener must see each packet (then :meth:`deliver`). A
        plain attribute, read per recipient: the client refreshes it when the session's
        changes (None, or a stale sink of a closed connection, is always safe: it sends
        nothing and the broadcast takes :meth:`deliver`)."""
        self.data: dict[str, Any]
        """Free per-socket storage, e.g. the user a middleware authenticated."""
        self.pid: str | None
        """Private session id for connection state recovery (None when it is off): the
        client presents it, with its last offset, to recover this socket."""
        if session is not None:
            self.id = session.sid
            self.pid = session.pid
            self.data = session.data
            self.recovered = True
            """Whether this socket is a dropped one come back (connection state recovery):
            same id, rooms and ``data``, and it got the events it missed."""
            self._missed = session.missed_packets
            self.join(session.rooms)
        else:
            self.id = new_id()
            self.pid = None if nsp.recovery_window is None else new_id()
            self.data = {}
            self.recovered = False

    def __repr__(self) -> str:
        return f"<Socket {self.id} nsp={self.nsp.name} connected={self.connected}>"

    @property
    def server(self) -> Server:
        """The Socket.IO server."""
        return self.nsp.server

    @property
    def adapter(self) -> Adapter:
        """The namespace's adapter."""
        return self.nsp.adapter

    @property
    def conn(self) -> Session:
        """The Engine.IO session under this socket (shared by its sockets in other namespaces)."""
        return self.client.session

    @property
    def disconnected(self) -> bool:
        """Not :attr:`connected`."""
        return not self.connected

    @property
    def rooms(self) -> set[str]:
        """The rooms the socket is in (a copy). Once disconnected: the rooms it was in when the
        disconnection began, so ``disconnecting`` handlers, sync or async, still see them."""
        if self._rooms_at_close is not None:
            return set(self._rooms_at_close)
        return self.nsp.adapter.socket_rooms(self.id)

    # handlers

    def on(self, event: str, handler: F | None = None) -> Any:
        """Register ``handler(*args)`` for ``event`` on this socket only (``disconnecting`` and
        ``disconnect`` get ``(reason)``, ``error`` gets the exception); without ``handler``,
        return a decorator. The return value answers the client's ack, unless the handler
        declares a keyword-only ``ack`` parameter."""
        if handler is None:

            def decorator(fn: F) -> F:
                self.on(event, fn)
                return fn

            return decorator
        if self._handlers is None:
            self._handlers = {}
        self._handlers.setdefault(event, []).append((handler, takes_ack(handler)))
        return handler

    def off(self, event: str, handler: Callable[..., Any] | None = None) -> None:
        """Remove one handler of ``event``, or all of them."""
        if self._handlers is None:
            return
        if handler is None:
            self._handlers.pop(event, None)
        else:
            kept = [h for h in self._handlers.get(event, []) if h[0] is not handler]
            self._handlers[event] = kept

    def on_any(self, listener: F) -> F:
        """Call ``listener(event, *args)`` for every incoming event (before the handlers)."""
        if self._any is None:
            self._any = []
        self._any.append(listener)
        return listener

    def off_any(self, listener: Callable[..., Any] | None = None) -> None:
        """Remove one catch-all listener, or all of them."""
        if self._any is not None:
            self._any = [] if listener is None else [x for x in self._any if x is not listener]

    def on_any_outgoing(self, listener: F) -> F:
        """Call ``listener(event, *args)`` for every event sent to this socket."""
        if self._any_outgoing is None:
            self._any_outgoing = []
        self._any_outgoing.append(listener)
        self.sink = None  # broadcasts go through deliver, which calls the listeners
        return listener

    def off_any_outgoing(self, listener: Callable[..., Any] | None = None) -> None:
        """Remove one outgoing catch-all listener, or all of them."""
        if self._any_outgoing is not None:
            kept = [] if listener is None else [x for x in self._any_outgoing if x is not listener]
            self._any_outgoing = kept
            self.refresh_sink()

    def use(self, middleware: PacketMiddleware) -> PacketMiddleware:
        """Add a per-packet middleware: ``mw([event, *args])`` runs, in order, before the
        handlers of each incoming event; raising refuses the packet."""
        if self._middlewares is None:
            self._middlewares = []
        self._middlewares.append(middleware)
        return middleware

    # rooms

    def join(self, rooms: str | Collection[str]) -> None:
        """Join one room or several."""
        if not self.connected and self._rooms_at_close is not None:
            return
        self.nsp.adapter.add_all(self.id, (rooms,) if isinstance(rooms, str) else rooms)

    def leave(self, room: str) -> None:
        """Leave one room."""
        self.nsp.adapter.del_(self.id, room)

    def leave_all(self) -> None:
        """Leave every room (the socket's own room too)."""
        self.nsp.adapter.del_all(self.id)

    # sending

    def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` with ``args`` (JSON values, bytes anywhere) to this client."""
        SocketEmitter(self).emit(event, *args)

    def send(self, *args: Any) -> None:
        """Send a ``message`` event."""
        self.emit("message", *args)

    async def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """Send ``event`` and return the client's answer (``None`` for none, one value, or a
        tuple of several). Raises :class:`AckTimeoutError` after ``timeout`` seconds and
        :class:`SocketDisconnected` if the socket disconnects first."""
        return await SocketEmitter(self, BroadcastFlags(timeout=timeout)).emit_with_ack(
            event, *args
        )

    def timeout(self, seconds: float) -> SocketEmitter:
        """An emitter whose ``emit_with_ack`` fails after ``seconds``."""
        return SocketEmitter(self, BroadcastFlags(timeout=seconds))

    @property
    def volatile(self) -> SocketEmitter:
        """An emitter that drops the packet if the connection cannot take it now."""
        return SocketEmitter(self, BroadcastFlags(volatile=True))

    def compress(self, compress: bool) -> SocketEmitter:
        """An emitter with compression on or off."""
        return SocketEmitter(self, BroadcastFlags(compress=compress))

    def _operator(self) -> BroadcastOperator:
        return BroadcastOperator(self.nsp.adapter, except_rooms=frozenset((self.id,)))

    def to(self, room: str | Collection[str]) -> BroadcastOperator:
        """Target ``room`` (one or several) for a broadcast that skips this socket (built at
        once: the chat's ``socket.to(room).emit(...)`` is a hot path)."""
        rooms = frozenset((room,)) if isinstance(room, str) else frozenset(room)
        return BroadcastOperator(self.nsp.adapter, rooms, frozenset((self.id,)))

    in_ = to

    @property
    def broadcast(self) -> BroadcastOperator:
        """Broadcast to every socket of the namespace but this one."""
        return self._operator()

    def send_packet(self, packet: Packet, volatile: bool = False, compress: bool = True) -> None:
        """Encode ``packet`` for this socket's namespace and queue it on the session."""
        packet.nsp = self.nsp.name
        client = self.client
        # through Client.write, never the session: a moved socket's client is a relay
        client.write(client.encode(packet), volatile, compress)

    def refresh_sink(self) -> None:
        """Take the session's :attr:`sink` again (it changed, or a listener went)."""
        self.sink = None if self._any_outgoing else self.client.session.sink

    def deliver(self, packet: Packet, prepared: PreparedMessage, volatile: bool) -> bool:
        """Queue a broadcast packet already encoded and prepared for every recipient."""
        if self._any_outgoing:
            self._notify_outgoing(packet.data)
        return self.client.session.send_prepared(prepared, volatile=volatile)

    def _notify_outgoing(self, data: list[Any]) -> None:
        for listener in list(self._any_outgoing or ()):
            call_handler(listener, data, what="on_any_outgoing", socket_id=self.id)

    # acks

    def _pending(self) -> PendingAcks:
        acks = self._acks
        if acks is None:
            acks = self._acks = PendingAcks(self.nsp.server.max_pending_acks)
        return acks

    def expect_ack(self, ack_id: int, callback: AckCallback) -> None:
        """Call ``callback(args)`` when the client answers ``ack_id``."""
        self._pending().add(ack_id, callback)

    def forget_ack(self, ack_id: int) -> None:
        """Stop waiting for ``ack_id``."""
        if self._acks is not None:
            self._acks.discard(ack_id)

    def _ack_timed_out(self, ack_id: int, waiter: AckWaiter) -> None:
        self.nsp.ack_timeouts += 1
        self.forget_ack(ack_id)
        waiter.fail(AckTimeoutError())

    # incoming

    # Internal API of the Socket.IO layer (used by Client, Namespace and Server).

    def accept(self) -> None:
        """The middleware passed: join the own room and answer the client's CONNECT (a
        recovered socket first gets the events it missed, as in Node)."""
        self.connected = True
        self.join(self.id)
        missed = self._missed
        if missed is not None:
            self._missed = None
            for event in missed:
                self.send_packet(Packet(PacketType.EVENT, data=event))
        data: dict[str, Any] = {"sid": self.id}
        if self.pid is not None:
            data["pid"] = self.pid
        self.send_packet(Packet(PacketType.CONNECT, data=data))

    def receive(self, packet: Packet) -> None:
        """Handle a packet the client sent to this socket's namespace."""
        kind = packet.type
        if kind is PacketType.EVENT or kind is PacketType.BINARY_EVENT:
            data: list[Any] = packet.data
            ack = None if packet.id is None else AckSender(packet.id, self.send_packet)
            if self._any or self._middlewares:
                self._on_event(data, ack)
            else:  # no listener of every event, no middleware: the common case, one call less
                self._dispatch(data, ack)
        elif kind is PacketType.ACK or kind is PacketType.BINARY_ACK:
            if self._acks is not None and packet.id is not None:
                self._acks.resolve(packet.id, packet.data if packet.data is not None else [])
        elif kind is PacketType.DISCONNECT:
            self.detach("client namespace disconnect")

    def _on_event(self, data: list[Any], ack: AckSender | None) -> None:
        if self._any:
            for listener in list(self._any):
                call_handler(listener, data, what="on_any", socket_id=self.id)
        if self._middlewares:
            spawn(self._run_middlewares(data, ack))
        else:
            self._dispatch(data, ack)

    async def _run_middlewares(self, data: list[Any], ack: AckSender | None) -> None:
        for middleware in list(self._middlewares or ()):
            try:
                result = middleware(data)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                self.report_error(exc)
                return
        self._dispatch(data, ack)

    def _dispatch(self, data: list[Any], ack: AckSender | None) -> None:
        if not self.connected:
            return
        event = data[0]
        args = data[1:]
        what = f"event {event!r}"
        if event not in NAMESPACE_EVENTS:
            nsp = self.nsp
            # the namespace's own handlers, read here but for a dynamic namespace's child
            handlers = nsp.handlers(event) if nsp.parent is not None else nsp._handlers.get(event)
            for fn, pass_ack in handlers or ():
                call_handler(
                    fn, (self, *args), what=what, socket_id=self.id, ack=ack, pass_ack=pass_ack
                )
        if self._handlers is not None and event not in SOCKET_EVENTS:
            for fn, pass_ack in list(self._handlers.get(event, ())):
                call_handler(fn, args, what=what, socket_id=self.id, ack=ack, pass_ack=pass_ack)

    def report_error(self, exc: BaseException) -> None:
        """Give ``exc`` to the socket's ``error`` listeners (logged if there are none)."""
        handlers = self._handlers.get("error") if self._handlers else None
        if not handlers:
            logger.info("socket %s: %s", self.id, exc)
            return
        for fn, _ in list(handlers):
            call_handler(fn, (exc,), what="error", socket_id=self.id)

    def _emit_reserved(self, event: str, reason: str, description: Any) -> None:
        for fn, _ in self.nsp.handlers(event):
            call_handler(fn, (self, reason), what=event, socket_id=self.id)
        if self._handlers is not None:
            for fn, _ in list(self._handlers.get(event, ())):
                call_handler(fn, (reason,), what=event, socket_id=self.id)

    def detach(self, reason: str, description: Any = None) -> None:
        """The socket leaves its namespace for ``reason`` (Node's reason strings)."""
        if not self.connected:
            return
        self._emit_reserved("disconnecting", reason, description)
        rooms = self._rooms_at_close = self.nsp.adapter.socket_rooms(self.id)
        if self.pid is not None and reason in RECOVERABLE_REASONS:
            self.nsp.adapter.persist_session(
                PersistedSession(self.id, self.pid, list(rooms), self.data)
            )
        self.nsp.adapter.del_all(self.id)
        self.nsp.remove_socket(self)
        self.client.remove_socket(self)
        self.connected = False
        if self._acks is not None:
            self._acks.close()
        self._emit_reserved("disconnect", reason, description)

    def move_out(self, relay: Client) -> None:
        """The socket moved to another server with its session (a cluster's handoff): leave
        the namespace here without ``disconnecting``/``disconnect`` (the client is still
        connected, elsewhere). Awaited acks fail with :class:`SocketDisconnected`; what is
        sent to this object later (an ack answered late, an ``emit``) goes through ``relay``.
        ``rooms`` keeps the rooms it was in."""
        if not self.connected:
            return
        self._rooms_at_close = self.nsp.adapter.socket_rooms(self.id)
        self.nsp.adapter.del_all(self.id)
        self.nsp.remove_socket(self)
        self.connected = False
        self.client = relay
        self.sink = None
        if self._acks is not None:
            self._acks.close()

    def discard(self) -> None:
        """Forget a socket that never connected (refused, or its connection closed first)."""
        self.nsp.adapter.del_all(self.id)
        self.nsp.remove_socket(self)
        self._rooms_at_close = set()

    def disconnect(self, close: bool = False) -> Socket:
        """Leave the namespace (the client sees ``io server disconnect``); with ``close``,
        close the whole connection and every namespace on it."""
        if not self.connected:
            return self
        if close:
            self.client.disconnect_all()
        else:
            self.send_packet(Packet(PacketType.DISCONNECT))
            self.detach("server namespace disconnect")
        return self


class SocketEmitter:
    """``socket.timeout(s)``, ``socket.volatile``, ``socket.compress(c)``: an emit with flags."""

    __slots__ = ("flags", "socket")

    def __init__(self, socket: Socket, flags: BroadcastFlags = BroadcastFlags()) -> None:  # noqa: B008
        self.socket = socket
        self.flags = flags

    def timeout(self, seconds: float) -> SocketEmitter:
        """Also fail ``emit_with_ack`` after ``seconds``."""
        return SocketEmitter(self.socket, _replace(self.flags, timeout=seconds))

    @property
    def volatile(self) -> SocketEmitter:
        """Also drop the packet if the connection cannot take it now."""
        return SocketEmitter(self.socket, _replace(self.flags, volatile=True))

    def compress(self, compress: bool) -> SocketEmitter:
        """Also set compression."""
        return SocketEmitter(self.socket, _replace(self.flags, compress=compress))

    @property
    def broadcast(self) -> BroadcastOperator:
        """Broadcast with these flags to every socket of the namespace but this one."""
        socket = self.socket
        return BroadcastOperator(
            socket.nsp.adapter, frozenset(), frozenset((socket.id,)), self.flags
        )

    def to(self, room: str | Collection[str]) -> BroadcastOperator:
        """Broadcast with these flags to ``room``, this socket excluded."""
        return self.broadcast.to(room)

    def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to the socket with these flags."""
        if event in RESERVED_EVENTS:
            raise ReservedEventName(f'"{event}" is a reserved event name')
        socket = self.socket
        data = [event, *args]
        flags = self.flags
        if socket.nsp.recovery_window is not None:
            # through the adapter, as Node does, so that the event gets an offset and is kept
            socket.nsp.adapter.broadcast(
                Packet(PacketType.EVENT, data=data),
                BroadcastOptions(frozenset((socket.id,)), frozenset(), flags),
            )
            return
        if socket._any_outgoing:
            socket._notify_outgoing(data)
        socket.send_packet(
            Packet(PacketType.EVENT, data=data), flags.volatile, flags.compress is not False
        )

    async def emit_with_ack(self, event: str, *args: Any) -> Any:
        """Send ``event`` and return the client's answer (see :meth:`Socket.emit_with_ack`)."""
        if event in RESERVED_EVENTS:
            raise ReservedEventName(f'"{event}" is a reserved event name')
        socket = self.socket
        if not socket.connected:
            raise SocketDisconnected("the socket is not connected")
        loop = asyncio.get_running_loop()
        ack_id = socket.nsp.next_ack_id()
        waiter = AckWaiter(loop.create_future())
        if self.flags.timeout is not None:
            waiter.timer = loop.call_later(
                self.flags.timeout, socket._ack_timed_out, ack_id, waiter
            )
        socket.expect_ack(ack_id, waiter)
        data = [event, *args]
        if socket._any_outgoing:
            socket._notify_outgoing(data)
        socket.send_packet(
            Packet(PacketType.EVENT, data=data, id=ack_id),
            self.flags.volatile,
            self.flags.compress is not False,
        )
        future = waiter.future
        del waiter
        try:
            return await future
        finally:
            # A failed future keeps its exception, whose traceback holds this frame: without
            # the future in the frame, no reference cycle is left to the garbage collector.
            del future


def _replace(flags: BroadcastFlags, **changes: Any) -> BroadcastFlags:
    return dataclasses.replace(flags, **changes)


def _handshake(session: Session, auth: dict[str, Any]) -> Handshake:
    request = session.request
    now = time.time()
    address = request.remote_address[0] if request.remote_address else None
    return Handshake(
        headers=request.headers,
        query=request.query,
        auth=auth,
        address=address,
        time=js_date(now),
        issued=int(now * 1000),
        url=request.url,
        secure=request.secure,
        xdomain="origin" in request.headers,
    )
