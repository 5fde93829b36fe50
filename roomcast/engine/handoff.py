"""Moving a polling session to the server its WebSocket upgrade reached (a cluster's handoff).

Behind a load balancer without affinity, the WebSocket upgrade of a polling session may reach a
server (D) other than the one that made the session (its owner, A). Rather than piping that
WebSocket to A (the client would then depend on both servers), D accepts it and the session
moves to D, in step with the Engine.IO upgrade:

1. ``prepare`` (before D answers 101): A says whether it has the session and can hand it over.
2. ``probe`` (the client's ``2probe`` reached D): A treats it as its own probe, so that its
   pending GET is released with a noop ``6`` (the client then pauses polling); D answers
   ``3probe``.
3. ``take`` (the client's ``5`` reached D: its polling is over, nothing is in flight): A
   completes the upgrade on a stand-in transport that collects the packets queued and not yet
   polled, lets the session and the layer above go without telling the application (the
   session was not closed, it moved), and answers with their state; D rebuilds the session
   with the same sid, sends the collected packets first, in order, then carries on.

``cancel`` ends a ``probe`` that will not be taken (the WebSocket went away). A polling request
that still reaches A after ``take`` is answered as for a session that upgraded (400 Bad request).

A session whose state cannot be sent (``socket.data`` that is not JSON) stays with A. Known at
``prepare``, D pipes the WebSocket's bytes to A before answering 101. Found only at ``take``
(the application changed the data after ``prepare``: typically a connect handler that ran while
the client probed), the client is already upgraded to D's WebSocket, so A ends the remote probe
(the session is back on polling, with nobody polling, its packets queued) and D opens a
WebSocket of its own to A for the session, upgrades it (``2probe``, ``5``: A's queue goes out on
it) and relays messages both ways until either end closes. The client sees nothing of this.

How the requests travel is the cluster's business (:mod:`roomcast.cluster.forward`): this
module only gives the two ends, :func:`hand_over` (A) and :class:`ArrivingSession` (D).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol

from websockets.exceptions import ConnectionClosed

from .http import Request, make_request
from .prepared import PreparedMessage
from .reasons import TRANSPORT_CLOSE
from .session import Session, Transport

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

    from .engine import Engine

__all__ = [
    "MOVED",
    "STAYS",
    "ArrivingSession",
    "Owner",
    "SessionHandoff",
    "SessionStays",
    "hand_over",
]

logger = logging.getLogger("roomcast.engine")

MOVED = "moved"
"""The close reason counted (``engine.closes``) for a session that moved to another server;
no application handler sees it."""
STAYS = b"stays"
"""The body of the owner's 409 answer to ``take`` when it keeps the session."""
MAX_MOVED = 100_000
"""Sids of moved sessions remembered (to answer late polling requests as Node would)."""


class SessionHandoff(Protocol):
    """What the layer above the engine (the Socket.IO server) does when a session moves."""

    def exportable(self, session: Session) -> bool:
        """Whether the state above ``session`` can be sent to another server."""

    def export(self, session: Session) -> dict[str, Any]:
        """That state, as JSON values (raises ``TypeError``/``ValueError`` if it cannot)."""

    def release(self, session: Session) -> None:
        """Let the state above ``session`` go, without telling the application."""

    def adopt(self, session: Session, state: dict[str, Any]) -> None:
        """Rebuild the state :meth:`export` gave, above ``session`` (now local)."""


class SessionStays(Exception):
    """The owner keeps the session: its state cannot be sent (see the module docstring)."""


class Owner(Protocol):
    """The owning server, as the arriving server reaches it (see the module docstring)."""

    def probe(self) -> Awaitable[bool]:
        """Step 2: whether the owner released its polling for the upgrade."""

    def take(self) -> Awaitable[dict[str, Any] | None]:
        """Step 3: the session's state, or ``None`` (the owner refused or is gone); raises
        :exc:`SessionStays` when the owner keeps the session."""

    def connect(self, request: Request) -> Awaitable[ClientConnection | None]:
        """A WebSocket to the owner for the session of ``request`` (the client's upgrade, whose
        headers it carries), not yet upgraded; ``None`` if the owner cannot be reached."""

    def cancel(self) -> None:
        """The upgrade will not be taken (fire and forget)."""


# the owner's side


class _RemoteProbe:
    """The stand-in for a WebSocket on another server: it collects what the session sends it
    when the upgrade completes (the packets queued and not yet polled)."""

    name = "websocket"
    writable = False
    write_buffer_size = 0

    def __init__(self) -> None:
        self.sent: list[list[Any]] = []

    def send_text(self, text: str, compress: bool = True) -> int:
        self.sent.append(["t", text, compress])
        return 0

    def send_binary(self, data: bytes, compress: bool = True) -> int:
        self.sent.append(["b", base64.b64encode(data).decode(), compress])
        return 0

    def send_prepared(self, message: PreparedMessage) -> int:
        for item in message.messages:
            if isinstance(item, str):
                self.send_text("4" + item, message.compress)
            else:
                self.send_binary(bytes(item), message.compress)
        return 0

    def sink_for(self, session: Session) -> None:
        return None

    def respond(self, payload: str, compress: bool = True) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def hold(self) -> None:
        pass

    def release(self) -> None:
        pass


_unserializable_logged = False


def _log_unserializable(sid: str, why: object) -> None:
    global _unserializable_logged
    if _unserializable_logged:
        return
    _unserializable_logged = True
    logger.warning(
        "session %s cannot move to another server (%s): its WebSocket is piped to this "
        "server instead (logged once)",
        sid,
        why,
    )


def hand_over(engine: Engine, sid: str, stage: str) -> tuple[int, bytes]:
    """The owner's answer to one step of a handoff of session ``sid``: ``(status, body)``;
    200 when done (``take``: the state as JSON), 404 for an unknown session, 409 when the
    session cannot move (the other server then pipes the WebSocket, or fails the upgrade)."""
    session = engine.sessions.get(sid)
    above = engine.handoff
    if session is None or session.closed:
        return 404, b""
    if above is None:
        return 409, b""
    probe = session._probe
    if stage == "prepare":
        if session.transport_name != "polling" or session.upgrading:
            return 409, b""
        if not above.exportable(session):
            _log_unserializable(sid, "socket.data is not JSON")
            return 409, b""
        return 200, b""
    if stage == "probe":
        if session.transport_name != "polling" or session.upgrading:
            return 409, b""
        remote = _RemoteProbe()
        session.begin_upgrade(remote)
        session.receive(remote, "2probe")  # releases a pending GET with "6", as on a probe
        remote.sent.clear()  # its "3probe": the other server answers the client itself
        return 200, b""
    if not isinstance(probe, _RemoteProbe):
        return 409, b""
    if stage == "cancel":
        session.transport_closed(probe, TRANSPORT_CLOSE, None)
        return 200, b""
    if stage != "take" or not session._probed:
        return 409, b""
    try:
        app = above.export(session)
        state = json.dumps({"app": app}, separators=(",", ":"))
    except (TypeError, ValueError) as exc:  # changed since "prepare": it stays, D pipes
        _log_unserializable(sid, f"socket.data is not JSON: {exc}")
        session.transport_closed(probe, TRANSPORT_CLOSE, None)
        return 409, STAYS
    session.receive(probe, "5")  # the upgrade completes: the unpolled queue goes to the probe
    above.release(session)
    session.on_close = None
    session.on_message = None
    session.finish(MOVED, None)
    engine.moved[sid] = None
    if len(engine.moved) > MAX_MOVED:
        engine.moved.popitem(last=False)
    request = session.request
    head = {
        "method": request.method,
        "url": request.url,
        "headers": request.headers,
        "remote": list(request.remote_address) if request.remote_address else None,
        "secure": request.secure,
        "connected_at": session.connected_at,
        "queue": probe.sent,
    }
    body = json.dumps(head, separators=(",", ":"))[:-1] + "," + state[1:]
    return 200, body.encode()


# the arriving side

_WAIT_PROBE, _PROBING, _PROBED, _TAKING, _PIPING, _PIPED, _DONE, _FAILED = range(8)


class ArrivingSession(Session):
    """The session on the server its WebSocket reached, while it moves there; a plain
    :class:`Session` once moved (see the module docstring)."""

    __slots__ = ("_early", "_engine", "_lost", "_outbox", "_owner", "_stage", "_timer")

    def __init__(self, engine: Engine, request: Request, ws: Transport, owner: Owner) -> None:
        sid = request.query.get("sid", "")
        super().__init__(sid, request, ws, engine.options, engine.session_closed, engine.budget)
        self._engine = engine
        self._owner = owner
        self._stage = _WAIT_PROBE
        self._early: list[str | bytes] = []
        self._lost: tuple[str, str | None] | None = None
        self._outbox: asyncio.Queue[str | bytes | None] | None = None
        self._timer: asyncio.TimerHandle | None = self.loop.call_later(
            engine.options.upgrade_timeout, self._fail, "upgrade timed out"
        )

    def receive(self, transport: Transport, data: str | bytes) -> None:
        stage = self._stage
        if stage == _DONE:
            super().receive(transport, data)
        elif stage == _PIPED:
            assert self._outbox is not None
            self._outbox.put_nowait(data)
        elif stage in (_TAKING, _PIPING):
            self._early.append(data)  # the client's packets after "5": handled once moved
        elif stage == _WAIT_PROBE and data == "2probe":
            self._stage = _PROBING
            self._spawn(self._probe_owner())
        elif stage == _PROBED and data == "5":
            self._stage = _TAKING
            if self._timer is not None:  # the client is upgraded now: the take has its own
                self._timer.cancel()  # deadline (the relay's), a failure closes the WebSocket
                self._timer = None
            self._spawn(self._take())
        elif stage != _FAILED:
            self._fail("unexpected packet during upgrade")

    def transport_closed(self, transport: Transport, reason: str, description: str | None) -> None:
        stage = self._stage
        if stage == _DONE:
            super().transport_closed(transport, reason, description)
        elif stage == _PIPED:
            assert self._outbox is not None
            self._outbox.put_nowait(None)  # what the client sent goes first, then the close
        elif stage in (_TAKING, _PIPING):
            self._lost = (reason, description)  # the session moves (or is piped), then closes
        elif stage != _FAILED:
            self._fail("the WebSocket closed", close=False)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        task.add_done_callback(_log_error)

    def _fail(self, why: str, close: bool = True) -> None:
        stage, self._stage = self._stage, _FAILED
        if stage in (_DONE, _FAILED):
            return
        logger.info("session %s: upgrade through this server failed: %s", self.sid, why)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if stage in (_PROBING, _PROBED, _TAKING):  # (_PIPING: the owner has it back)
            self._owner.cancel()
        if close:
            self.transport.close()

    async def _probe_owner(self) -> None:
        ok = await self._owner.probe()
        if self._stage != _PROBING:
            if ok:
                self._owner.cancel()
            return
        if not ok:
            self._fail("the owner refused the probe")
            return
        self._stage = _PROBED
        self.transport.send_text("3probe")

    async def _take(self) -> None:
        try:
            state = await self._owner.take()
        except SessionStays:
            if self._stage == _TAKING:
                await self._pipe()
            return
        if self._stage != _TAKING:
            return
        if state is None:
            self._fail("the owner did not hand the session over")
            return
        self._install(state)

    def _install(self, state: dict[str, Any]) -> None:
        remote = state.get("remote")
        self.request = make_request(
            str(state["method"]),
            str(state["url"]),
            dict(state["headers"]),
            remote_address=(str(remote[0]), int(remote[1])) if remote else None,
            secure=bool(state["secure"]),
        )
        self.connected_at = float(state["connected_at"])
        self.upgraded = True
        self._stage = _DONE
        ws = self.transport
        for kind, item, compress in state["queue"]:  # first, in the order A queued them
            if kind == "b":
                ws.send_binary(base64.b64decode(item), compress)
            else:
                ws.send_text(item, compress)
        logger.info(
            "session %s moved here from its owner (%d packets it had queued)",
            self.sid,
            len(state["queue"]),
        )
        engine = self._engine
        engine.sessions[self.sid] = self
        self._schedule_ping()
        above = engine.handoff
        if above is not None:
            try:
                above.adopt(self, state["app"])
            except Exception:
                logger.exception("session %s: rebuilding its sockets failed", self.sid)
                self.close()
                return
        early, self._early = self._early, []
        for data in early:
            super().receive(ws, data)
        if self._lost is not None:
            self.finish(*self._lost)

    async def _pipe(self) -> None:
        """The owner keeps the session: upgrade a WebSocket of this server's own to it, then
        relay messages between it and the client's until either closes."""
        self._stage = _PIPING
        upstream = await self._owner.connect(self.request)
        if upstream is None:
            self._fail("the owner kept the session and cannot be reached")
            return
        try:
            await upstream.send("2probe")
            answer = await asyncio.wait_for(upstream.recv(), self.options.upgrade_timeout)
            if answer != "3probe":
                raise ValueError(f"answer {answer!r} to the probe")
            await upstream.send("5")  # the owner's queue for the session comes on it now
        except (ConnectionClosed, TimeoutError, ValueError) as exc:
            await upstream.close()
            self._fail(f"the owner kept the session and did not take the pipe: {exc}")
            return
        if self._stage != _PIPING:  # failed meanwhile
            await upstream.close()
            return
        self._stage = _PIPED
        outbox = self._outbox = asyncio.Queue()
        for data in self._early:
            outbox.put_nowait(data)
        self._early = []
        if self._lost is not None:
            outbox.put_nowait(None)
        logger.info("session %s stays with its owner: its WebSocket is piped there", self.sid)
        self._spawn(_send_all(upstream, outbox))
        ws = self.transport
        try:
            async for message in upstream:
                if isinstance(message, str):
                    ws.send_text(message)
                else:
                    ws.send_binary(message)
        except ConnectionClosed:
            pass
        ws.close()


async def _send_all(upstream: ClientConnection, outbox: asyncio.Queue[str | bytes | None]) -> None:
    """Send the client's messages to the owner in order; close once ``None`` comes."""
    while (data := await outbox.get()) is not None:
        try:
            await upstream.send(data)
        except ConnectionClosed:
            return
    await upstream.close()


def _log_error(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("session handoff failed", exc_info=task.exception())
