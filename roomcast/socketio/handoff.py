"""The Socket.IO side of a session moving to another server of a cluster.

See :mod:`roomcast.engine.handoff` for the steps. The state that moves, per namespace socket:
its id, private id (recovery), rooms, ``data`` (JSON values only; otherwise the session does not
move and its WebSocket is piped to the owner as before), and its handshake's ``auth`` and time
(headers, query, address and url come with the session's handshake request).

What the application sees: on the server the session leaves, nothing (no ``disconnecting`` or
``disconnect``: the client did not go); on the server it reaches, ``connection`` handlers run
with ``socket.recovered`` true, as after a connection state recovery, so that handlers
registered on the socket there exist here too (a handler that greets or counts checks
``recovered``). Connect middlewares do not run again.

On the old server, the socket object lives on as a relay: an ack a handler answers late, or an
``emit`` to it, goes to the socket's own room through the adapter, which reaches the socket on
its new server. An ``emit_with_ack`` waiting there for the client's answer fails at once with
:class:`~roomcast.errors.SocketDisconnected` (the answer would reach the new server); a
broadcast's ack callback counts the socket as answered with nothing.
"""

from __future__ import annotations

import inspect
import json
import logging
from typing import TYPE_CHECKING, Any, cast

from ..protocol.socketio import Packet, PacketType
from ..rooms.adapter import BroadcastFlags, BroadcastOptions, RestoredSession
from .client import Client
from .namespace import Namespace
from .socket import Socket

if TYPE_CHECKING:
    from ..engine.session import Session
    from .server import Server

__all__ = ["ServerHandoff"]

logger = logging.getLogger("roomcast")


def _client(session: Session) -> Client | None:
    owner = getattr(session.on_message, "__self__", None)  # Client sets its bound method
    return owner if isinstance(owner, Client) else None


class ServerHandoff:
    """The server's :class:`~roomcast.engine.handoff.SessionHandoff`."""

    __slots__ = ("server",)

    def __init__(self, server: Server) -> None:
        self.server = server

    def exportable(self, session: Session) -> bool:
        try:
            json.dumps(self.export(session))
        except (TypeError, ValueError):
            return False
        return True

    def export(self, session: Session) -> dict[str, Any]:
        client = _client(session)
        if client is None:
            raise ValueError("no Socket.IO client on the session")
        sockets = []
        for socket in client.sockets.values():
            handshake = socket.handshake
            sockets.append(
                {
                    "nsp": socket.nsp.name,
                    "id": socket.id,
                    "pid": socket.pid,
                    "rooms": sorted(socket.nsp.adapter.socket_rooms(socket.id)),
                    "data": socket.data,
                    "auth": handshake.auth,
                    "time": handshake.time,
                    "issued": handshake.issued,
                }
            )
        return {"sockets": sockets}

    def release(self, session: Session) -> None:
        client = _client(session)
        if client is None:
            return
        for socket in list(client.sockets.values()):
            socket.move_out(_Relay(client, socket))
        client.sockets.clear()
        client.decoder.reset()

    def adopt(self, session: Session, state: dict[str, Any]) -> None:
        server = self.server
        client = Client(server, session)
        for item in state["sockets"]:
            name = str(item["nsp"])
            auth = item["auth"] if isinstance(item["auth"], dict) else {}
            nsp = server.get_namespace(name)
            if nsp is None:
                matched = server.match_dynamic(name, auth)
                if inspect.iscoroutine(matched):
                    matched.close()  # an async matcher: not decided in time
                elif isinstance(matched, Namespace):
                    nsp = matched
            if nsp is None:
                logger.info("socket %s: namespace %s is not served here", item["id"], name)
                client.write(client.encode(Packet(PacketType.DISCONNECT, name)))
                continue
            restored = RestoredSession(
                str(item["id"]), item["pid"], list(item["rooms"]), item["data"], []
            )
            socket = Socket(nsp, client, auth, restored)
            socket.pid = item["pid"] if isinstance(item["pid"], str) else None
            socket.handshake.time = str(item["time"])
            socket.handshake.issued = int(item["issued"])
            nsp.adopt(socket)


class _Relay(Client):
    """Where a moved socket's late sends go on the old server: to the socket's own room
    through the adapter (the socket is in it on its new server)."""

    __slots__ = ("_socket",)

    def __init__(self, old: Client, socket: Socket) -> None:  # no Client.__init__: no timer
        self.server = old.server
        self.session = old.session
        self.decoder = old.decoder
        self.sockets = {}
        self._connect_timer = None
        self.encode = cast(Any, _as_is)
        self._socket = socket

    def write(
        self, messages: list[str | bytes], volatile: bool = False, compress: bool = True
    ) -> None:
        socket = self._socket
        flags = BroadcastFlags(volatile=volatile, compress=compress)
        for packet in messages:
            socket.nsp.adapter.broadcast(
                cast(Packet, packet), BroadcastOptions(frozenset((socket.id,)), flags=flags)
            )


def _as_is(packet: Packet) -> list[Any]:
    return [packet]
