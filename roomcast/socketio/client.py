"""The Socket.IO side of one Engine.IO session: its decoder and its sockets, one per namespace."""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import TYPE_CHECKING, Any

from ..engine.prepared import PreparedMessage
from ..protocol.errors import ProtocolError
from ..protocol.socketio import Packet, PacketType
from .handlers import spawn

if TYPE_CHECKING:
    from ..engine.session import Session
    from .server import Server
    from .socket import Socket

__all__ = ["FORCED_SERVER_CLOSE", "Client"]

logger = logging.getLogger("roomcast")

FORCED_SERVER_CLOSE = "forced server close"
"""The reason sockets get when the server closes their connection (``disconnect(close=True)``
or the connect timeout), as in Node."""


class Client:
    """Multiplexes the namespaces a client connects to over one Engine.IO session.

    Mirrors Node's ``Client``: a CONNECT for a namespace not yet joined connects it; a packet
    for a joined namespace goes to its socket; anything else (a second CONNECT, a packet for a
    namespace not joined, a CONNECT_ERROR from the client) closes the connection, and so does
    a packet that does not decode. The session closes if no namespace is joined within the
    server's ``connect_timeout``.
    """

    __slots__ = ("_connect_timer", "decoder", "encode", "server", "session", "sockets")

    def __init__(self, server: Server, session: Session) -> None:
        self.server = server
        self.session = session
        self.decoder = server.parser.decoder(server.max_attachments)
        self.encode = server.parser.encode
        """The server's parser's encoder: packet -> Engine.IO messages."""
        self.sockets: dict[str, Socket] = {}
        """The connected socket of each joined namespace, by namespace name."""
        loop = asyncio.get_running_loop()
        self._connect_timer: asyncio.TimerHandle | None = loop.call_later(
            server.connect_timeout, self._on_connect_timeout
        )
        session.on_message = self._on_message
        session.on_close = self._on_close
        session.on_sink = self._on_sink

    def __repr__(self) -> str:
        return f"<Client {self.session.sid} nsps={sorted(self.sockets)}>"

    @property
    def closed(self) -> bool:
        """Whether the session is closing or closed."""
        return self.session.closed

    # writing

    def write(
        self, messages: list[str | bytes], volatile: bool = False, compress: bool = True
    ) -> None:
        """Queue the Engine.IO messages of one encoded packet (``compress``: see
        :meth:`Session.send`)."""
        session = self.session
        if len(messages) == 1:
            session.send(messages[0], volatile=volatile, compress=compress)
        elif session.send_prepared(PreparedMessage(messages, compress), volatile=volatile):
            session.sent += len(messages)
            session.sent_bytes += sum(len(m) for m in messages)

    # reading

    def _on_message(self, data: str | bytes) -> None:
        try:
            packet = self.decoder.feed(data)
        except ProtocolError as exc:
            logger.debug("session %s: invalid packet: %s", self.session.sid, exc)
            self._on_error(exc)
            return
        if packet is not None:
            self._on_decoded(packet)

    def _on_decoded(self, packet: Packet) -> None:
        socket = self.sockets.get(packet.nsp)
        kind = packet.type
        if socket is None and kind is PacketType.CONNECT:
            self._connect(packet.nsp, packet.data if packet.data is not None else {})
        elif (
            socket is not None
            and kind is not PacketType.CONNECT
            and (kind is not PacketType.CONNECT_ERROR)
        ):
            socket.receive(packet)
        else:
            logger.debug("session %s: invalid state (packet type %s)", self.session.sid, kind)
            self.close()

    def _connect(self, name: str, auth: dict[str, Any]) -> None:
        if len(self.sockets) >= self.server.max_namespaces:
            logger.debug("session %s: refused namespace %s: too many", self.session.sid, name)
            self._refuse_namespace(name, "Too many namespaces")
            return
        nsp = self.server.get_namespace(name)
        if nsp is not None:
            nsp.admit(self, auth)
            return
        matched = self.server.match_dynamic(name, auth)
        if inspect.isawaitable(matched):
            spawn(self._connect_dynamic(name, auth, matched))
        elif matched is not None:
            matched.admit(self, auth)
        else:
            self._refuse_namespace(name)

    async def _connect_dynamic(self, name: str, auth: dict[str, Any], matched: Any) -> None:
        nsp = await matched
        if self.closed:
            return
        if nsp is None:
            self._refuse_namespace(name)
        else:
            nsp.admit(self, auth)

    def _refuse_namespace(self, name: str, message: str = "Invalid namespace") -> None:
        refusals = self.server.namespace_refusals
        refusals[message] = refusals.get(message, 0) + 1
        packet = Packet(PacketType.CONNECT_ERROR, name, {"message": message})
        self.write(self.encode(packet))

    # Internal API of the Socket.IO layer (used by Namespace and Socket).

    def add_socket(self, socket: Socket) -> None:
        """``socket`` has connected: route its namespace's packets to it."""
        self.sockets[socket.nsp.name] = socket
        socket.refresh_sink()
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None

    def _on_sink(self) -> None:
        for socket in self.sockets.values():
            socket.refresh_sink()

    def remove_socket(self, socket: Socket) -> None:
        """``socket`` has left its namespace: stop routing to it."""
        if self.sockets.get(socket.nsp.name) is socket:
            del self.sockets[socket.nsp.name]

    # closing

    def _on_connect_timeout(self) -> None:
        self._connect_timer = None
        if not self.sockets:
            logger.debug("session %s: no namespace joined in time", self.session.sid)
            self.close()

    def disconnect_all(self) -> None:
        """Disconnect every socket (each client sees a DISCONNECT), then close the session."""
        for socket in list(self.sockets.values()):
            socket.disconnect()
        self.sockets.clear()
        self.close()

    def close(self) -> None:
        """Close the session; the sockets disconnect with ``forced server close``."""
        session = self.session
        if session.closed:
            return
        session.on_close = None
        session.close()
        self._on_close(FORCED_SERVER_CLOSE, None)

    def _on_error(self, exc: Exception) -> None:
        for socket in list(self.sockets.values()):
            socket.report_error(exc)
        self.session.close()

    def _on_close(self, reason: str, description: str | None) -> None:
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None
        for socket in list(self.sockets.values()):
            socket.detach(reason, description)
        self.sockets.clear()
        self.decoder.reset()
