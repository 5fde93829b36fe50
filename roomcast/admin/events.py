"""Development mode: every socket's connection, rooms, events and disconnection, told to the UI.

This is the costly part of the Admin UI (as python-socketio warns for its own): each event a
socket receives or is sent becomes an event to the admin namespace. Production mode skips it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from .serialize import js_now, serialize_socket

if TYPE_CHECKING:
    from ..rooms.adapter import Adapter
    from ..socketio.namespace import Namespace
    from ..socketio.server import Server
    from ..socketio.socket import Socket

__all__ = ["Watcher"]


class Watcher:
    """Reports what happens in ``io``'s namespaces to the ``admin`` namespace.

    :meth:`refresh` (run with each stats report) watches namespaces made since, adapters
    replaced since, and reports sockets whose transport changed (an upgrade).
    """

    __slots__ = ("_adapters", "_namespaces", "_transports", "admin", "io")

    def __init__(self, io: Server, admin: Namespace) -> None:
        self.io = io
        self.admin = admin
        self._namespaces: set[str] = set()
        self._adapters: set[int] = set()
        self._transports: dict[Socket, str] = {}

    def refresh(self) -> None:
        """Watch what is new; report transports that changed."""
        for nsp in list(self.io.namespaces.values()):
            if nsp.name not in self._namespaces:
                self._namespaces.add(nsp.name)
                nsp.on("connection", self._on_connection)
            if id(nsp.adapter) not in self._adapters:
                self._adapters.add(id(nsp.adapter))
                self._watch_rooms(nsp.name, nsp.adapter)
        for socket, transport in list(self._transports.items()):
            current = socket.conn.transport_name
            if current != transport:
                self._transports[socket] = current
                update = {"id": socket.id, "nsp": socket.nsp.name, "transport": current}
                self.admin.emit("socket_updated", update)

    def _on_connection(self, socket: Socket) -> None:
        admin, name = self.admin, socket.nsp.name
        admin.emit("socket_connected", serialize_socket(socket, name), js_now())
        self._transports[socket] = socket.conn.transport_name
        if socket.nsp is not admin:

            def received(*args: Any) -> None:
                admin.emit("event_received", name, socket.id, list(args), js_now())

            def sent(*args: Any) -> None:
                admin.emit("event_sent", name, socket.id, list(args), js_now())

            socket.on_any(received)
            socket.on_any_outgoing(sent)

        def disconnected(reason: str) -> None:
            self._transports.pop(socket, None)
            admin.emit("socket_disconnected", name, socket.id, reason, js_now())

        socket.on("disconnect", disconnected)

    def _watch_rooms(self, name: str, adapter: Adapter) -> None:
        """Report joins and leaves by wrapping the adapter's three membership methods."""
        admin = self.admin
        add_all, del_, del_all = adapter.add_all, adapter.del_, adapter.del_all

        def joined(sid: str, rooms: Collection[str]) -> None:
            before = adapter.socket_rooms(sid)
            add_all(sid, rooms)
            for room in dict.fromkeys(rooms):
                if room not in before:
                    admin.emit("room_joined", name, room, sid, js_now())

        def left(sid: str, room: str) -> None:
            was_in = room in adapter.socket_rooms(sid)
            del_(sid, room)
            if was_in:
                admin.emit("room_left", name, room, sid, js_now())

        def left_all(sid: str) -> None:
            before = adapter.socket_rooms(sid)
            del_all(sid)
            for room in before:
                admin.emit("room_left", name, room, sid, js_now())

        wrappers: dict[str, Callable[..., None]] = {
            "add_all": joined,
            "del_": left,
            "del_all": left_all,
        }
        for attribute, wrapper in wrappers.items():
            setattr(adapter, attribute, wrapper)
