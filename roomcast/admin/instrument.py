"""``instrument(io, ...)``: the server side of the Socket.IO Admin UI (``@socket.io/admin-ui``
0.5), speaking its events on an admin namespace."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Literal

from ..socketio.handlers import spawn
from .auth import BasicAuth, Sessions, login_middleware
from .events import Watcher
from .serialize import serialize_socket
from .stats import ServerStats

if TYPE_CHECKING:
    from ..socketio.namespace import Namespace
    from ..socketio.server import Server
    from ..socketio.socket import Socket

__all__ = ["STATS_INTERVAL", "Admin", "instrument"]

logger = logging.getLogger("roomcast.admin")

STATS_INTERVAL = 2.0
"""Seconds between two ``server_stats`` reports (Node's)."""

ACTIONS = ("EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT")
"""The UI's actions on sockets (all of Socket.IO v4's): left out when read-only."""


class Admin:
    """An instrumented server: its admin namespace, stats reports and (development mode) the
    watcher of every namespace. Made by :func:`instrument`."""

    def __init__(
        self,
        io: Server,
        namespace: Namespace,
        *,
        features: list[str],
        development: bool,
        stats: ServerStats,
    ) -> None:
        self.io = io
        self.namespace = namespace
        """The admin namespace the UI connects to."""
        self.features = features
        """The ``supportedFeatures`` the UI is told."""
        self.development = development
        self.stats = stats
        self.watcher = Watcher(io, namespace) if development else None
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Report ``server_stats`` every :data:`STATS_INTERVAL` seconds from now (call it with
        the loop running; the first UI to connect starts it otherwise)."""
        if self._timer is None:
            self._report()

    def stop(self) -> None:
        """Stop reporting."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _report(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(STATS_INTERVAL, self._report)
        try:
            if self.watcher is not None:
                self.watcher.refresh()
            self.namespace.emit("server_stats", self.stats.report())
        except Exception:
            logger.exception("admin stats report failed")

    # the UI's connection

    def _on_connection(self, socket: Socket) -> None:
        self.start()
        self._register_actions(socket)
        socket.emit("config", {"supportedFeatures": self.features})
        if self.development:
            spawn(self._send_all_sockets(socket))

    async def _send_all_sockets(self, socket: Socket) -> None:
        listed: list[dict[str, Any]] = []
        try:
            for name, nsp in list(self.io.namespaces.items()):
                for found in await nsp.fetch_sockets():
                    listed.append(serialize_socket(found, name))
        except Exception:
            logger.exception("admin: listing the sockets failed")
        if socket.connected:
            socket.emit("all_sockets", listed)

    def _register_actions(self, socket: Socket) -> None:
        features = self.features
        if "EMIT" in features:
            socket.on("emit", self._emit)
        if "JOIN" in features:
            socket.on("join", self._join)
        if "LEAVE" in features:
            socket.on("leave", self._leave)
        if "DISCONNECT" in features:
            socket.on("_disconnect", self._disconnect)

    def _target(self, nsp: Any, where: Any) -> Any:
        """``io.of(nsp)``, narrowed to the room ``where`` if given; ``None`` if no such
        namespace."""
        namespace = self.io.namespaces.get(nsp) if isinstance(nsp, str) else None
        if namespace is None:
            return None
        return namespace.in_(where) if isinstance(where, str) and where else namespace

    def _emit(self, nsp: Any = None, where: Any = None, event: Any = None, *args: Any) -> None:
        target = self._target(nsp, where)
        if target is not None and isinstance(event, str):
            target.emit(event, *args)

    def _join(self, nsp: Any = None, room: Any = None, where: Any = None, *_: Any) -> None:
        target = self._target(nsp, where)
        if target is not None and isinstance(room, str):
            target.sockets_join(room)

    def _leave(self, nsp: Any = None, room: Any = None, where: Any = None, *_: Any) -> None:
        target = self._target(nsp, where)
        if target is not None and isinstance(room, str):
            target.sockets_leave(room)

    def _disconnect(self, nsp: Any = None, close: Any = False, where: Any = None, *_: Any) -> None:
        target = self._target(nsp, where)
        if target is not None:
            target.disconnect_sockets(close is True)


def instrument(
    io: Server,
    *,
    auth: BasicAuth | None,
    mode: Literal["development", "production"] = "development",
    namespace: str = "/admin",
    read_only: bool = False,
    server_id: str | None = None,
) -> Admin:
    """Serve the Socket.IO Admin UI's server side on ``io``'s ``namespace``.

    ``auth``: the user allowed in (``None``: anyone, as Node's ``auth: false``). ``mode``:
    ``"development"`` also lists every socket and reports every connection, room change and
    event (costly on a busy server), ``"production"`` only the server stats. ``read_only``:
    the UI cannot emit, join, leave or disconnect. ``server_id``: how this server is named in
    the UI (default: the host name). With a cluster adapter each server reports itself and the
    UI shows them all. Call it after ``io.set_adapter()``; the stats start with the first UI
    connection or :meth:`Admin.start`.
    """
    if mode not in ("development", "production"):
        raise ValueError(f"mode must be 'development' or 'production', not {mode!r}")
    admin_nsp = io.of(namespace)
    if auth is not None:
        admin_nsp.use(login_middleware(auth, Sessions()))
    features = [] if read_only else list(ACTIONS)
    features.append("AGGREGATED_EVENTS")
    development = mode == "development"
    if development:
        features.append("ALL_EVENTS")
    admin = Admin(
        io,
        admin_nsp,
        features=features,
        development=development,
        stats=ServerStats(io, server_id),
    )
    if admin.watcher is not None:  # first, as Node's: the UI hears of its own socket first
        admin.watcher.refresh()
    admin_nsp.on("connection", admin._on_connection)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return admin
    admin.start()
    return admin
