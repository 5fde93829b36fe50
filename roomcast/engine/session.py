"""One Engine.IO session (one ``sid``), whatever transport carries it.

The session owns the polling queue, the heartbeat timers, the upgrade state and the close reason.
Transports call ``receive`` / ``transport_closed``; the layer above sets ``on_message`` and
``on_close`` and calls :meth:`Session.send`, :meth:`Session.send_prepared`, :meth:`Session.close`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..protocol.engineio import SEPARATOR, Packet, PacketType, decode_packet, encode_payload
from ..protocol.errors import ProtocolError
from .http import Request
from .prepared import PreparedMessage
from .reasons import FORCED_CLOSE, PARSE_ERROR, PING_TIMEOUT, TRANSPORT_CLOSE, TRANSPORT_ERROR

if TYPE_CHECKING:
    from .budget import WriteBudget
    from .options import EngineOptions

__all__ = ["COUNTERS", "Session"]

logger = logging.getLogger("roomcast.engine")

_MESSAGE = PacketType.MESSAGE
_OPEN, _CLOSING, _CLOSED = 0, 1, 2

COUNTERS = ("received", "received_bytes", "sent", "sent_bytes", "dropped", "overflowed")
"""A session's traffic counters (plain ints, read by metrics; broadcasts are counted by the
adapter that sends them, once per broadcast, not here per recipient)."""


class Transport(Protocol):
    """What a session needs from the transport carrying it (polling or WebSocket)."""

    name: str

    @property
    def writable(self) -> bool:
        """Whether a packet sent now leaves at once (a GET waits; a WebSocket is open)."""

    @property
    def write_buffer_size(self) -> int:
        """Bytes written but not yet sent to the network."""

    def send_text(self, text: str, compress: bool = True) -> int:
        """Send one packet in its text form (WebSocket only); returns the buffered bytes (an
        upper bound is enough: past ``max_write_buffer`` the session asks
        :attr:`write_buffer_size`). ``compress=False``: uncompressed even where the transport
        negotiated compression."""

    def send_binary(self, data: bytes, compress: bool = True) -> int:
        """Send one binary MESSAGE (WebSocket only); returns the buffered bytes (as
        :meth:`send_text`)."""

    def send_prepared(self, message: PreparedMessage) -> int:
        """Send pre-built frames (WebSocket only, compressed unless ``message.compress`` is
        false); returns the buffered bytes."""

    def sink_for(self, session: Session) -> Callable[[bytes, bool], bool] | None:
        """The transport's broadcast fast path for ``session`` (see :attr:`Session.sink`), or
        None if it has none."""

    def respond(self, payload: str, compress: bool = True) -> None:
        """Answer the pending GET with ``payload`` (polling only; ``compress=False``: no HTTP
        compression)."""

    def close(self) -> None:
        """Close the transport (a WebSocket sends its close frame)."""

    def abort(self) -> None:
        """Drop the transport at once, discarding what is not yet sent."""

    def hold(self) -> None:
        """Keep polling answers until :meth:`release` (polling only)."""

    def release(self) -> None:
        """End one :meth:`hold`: a kept answer goes out after the last (polling only)."""


class Session:
    """An Engine.IO session: a ``sid``, its current transport, heartbeat and outgoing queue."""

    __slots__ = (
        "_budget",
        "_close_reason",
        "_close_timer",
        "_on_closed",
        "_ping_timer",
        "_plain",
        "_pong_timer",
        "_probe",
        "_probed",
        "_queue",
        "_refreshed",
        "_state",
        "_upgrade_timer",
        "connected_at",
        "dropped",
        "loop",
        "on_close",
        "on_message",
        "on_sink",
        "options",
        "overflowed",
        "protocol",
        "queued_bytes",
        "received",
        "received_bytes",
        "request",
        "sent",
        "sent_bytes",
        "sid",
        "sink",
        "transport",
        "upgraded",
    )

    def __init__(
        self,
        sid: str,
        request: Request,
        transport: Transport,
        options: EngineOptions,
        on_closed: Callable[[Session], None],
        budget: WriteBudget | None = None,
    ) -> None:
        self.sid = sid
        self.request = request
        """The handshake request (headers, query, remote address, url, secure)."""
        self.connected_at = time.time()
        self.protocol = 4
        self.on_message: Callable[[str | bytes], Any] | None = None
        """Called with each message: ``str`` for text, ``bytes`` for binary."""
        self.on_close: Callable[[str, str | None], Any] | None = None
        """Called once with ``(reason, description)`` when the session ends."""
        self.upgraded = False
        self.loop = asyncio.get_running_loop()
        self.transport = transport
        """The transport in use (polling, or WebSocket once upgraded); engine-internal."""
        self.options = options
        """The engine's options (read-only)."""
        self._on_closed = on_closed
        self._state = _OPEN
        self._close_reason = FORCED_CLOSE
        self._queue: list[str] = []
        self._plain: list[bool] | None = None
        """Per queued item, whether it was sent with ``compress=False``; ``None`` while no
        queued item was (the usual case costs nothing)."""
        self.queued_bytes = 0
        """Bytes waiting in the polling queue (UTF-8), counted against the budget."""
        self._budget = budget
        """The engine's budget, counting ``queued_bytes`` (the WebSocket counts its own)."""
        self._ping_timer: asyncio.TimerHandle | None = None
        self._pong_timer: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._upgrade_timer: asyncio.TimerHandle | None = None
        self._probe: Transport | None = None
        self._probed = False
        self._refreshed = False
        self.received = self.received_bytes = self.sent = self.sent_bytes = 0
        """Messages received and sent (direct sends; broadcasts are counted by the adapter)."""
        self.dropped = 0
        """Volatile messages dropped."""
        self.overflowed = 0
        """1 if the session was aborted for a full write buffer (a slow consumer)."""
        self.sink: Callable[[bytes, bool], bool] | None = transport.sink_for(self)
        """The broadcast fast path, or None: while the session is open on a WebSocket with no
        upgrade under way, ``sink(message.websocket_frames(), volatile)`` does what
        :meth:`send_prepared` would for a message without compression, in one call; when it
        returns False nothing was sent, and :meth:`send_prepared` must be called instead.
        Kept up to date on the session's transitions (upgrade, close)."""
        self.on_sink: Callable[[], Any] | None = None
        """Called when :attr:`sink` changes (for the layer above that keeps copies of it)."""

    def __repr__(self) -> str:
        return f"<Session {self.sid} {self.transport_name} state={self._state}>"

    # public API

    @property
    def transport_name(self) -> str:
        """``"polling"`` or ``"websocket"`` (changes after an upgrade)."""
        return self.transport.name

    @property
    def close_reason(self) -> str:
        """Why the session closed (or will close): one of Node's reason strings."""
        return self._close_reason

    @property
    def closed(self) -> bool:
        """Whether the session is closing or closed: sends are dropped."""
        return self._state != _OPEN

    @property
    def upgrading(self) -> bool:
        """Whether a WebSocket is probing to take this polling session over."""
        return self._probe is not None

    @property
    def write_buffer_size(self) -> int:
        """Bytes waiting to be sent: the polling queue plus the socket's write buffer."""
        return self.queued_bytes + self.transport.write_buffer_size

    def send(self, data: str | bytes, *, volatile: bool = False, compress: bool = True) -> bool:
        """Send one Engine.IO MESSAGE (``str`` text, ``bytes`` binary); ``False`` if dropped.

        A volatile message is dropped when it cannot leave now (no pending poll, an upgrade
        under way, or a write buffer past ``write_buffer_high_water``). ``compress=False``
        sends it uncompressed on a WebSocket that negotiated permessage-deflate, and keeps a
        polling answer made only of such messages from HTTP compression (as Node).
        """
        if self._state != _OPEN or (volatile and not self._can_send_volatile()):
            if self._state == _OPEN:
                self.dropped += 1
            return False
        self.sent += 1
        self.sent_bytes += len(data)
        transport = self.transport
        if self._probe is None and transport.name == "websocket":
            if isinstance(data, str):
                buffered = transport.send_text("4" + data, compress)
            else:
                buffered = transport.send_binary(bytes(data), compress)
            if buffered > self.options.max_write_buffer:
                self._check_buffer()
        else:
            self._enqueue(encode_payload((Packet(_MESSAGE, data),)), plain=not compress)
        return True

    def send_prepared(self, message: PreparedMessage, *, volatile: bool = False) -> bool:
        """Send pre-encoded messages (a broadcast); ``False`` if dropped."""
        if self._state != _OPEN or (volatile and not self._can_send_volatile()):
            if self._state == _OPEN:
                self.dropped += 1
            return False
        transport = self.transport
        if self._probe is None and transport.name == "websocket":
            if transport.send_prepared(message) > self.options.max_write_buffer:
                self._check_buffer()
        else:
            plain = not message.compress
            for item in message.polling_packets():
                self._enqueue(item, flush=False, plain=plain)
            self._flush()
        return True

    def hold_polling_answers(self) -> Callable[[], None]:
        """Keep the answers to this session's GETs until the returned function is called
        (once; later calls do nothing). Nothing is held on a WebSocket.

        For a process that relays one of this session's POSTs: it releases once the POST's
        answer is out, so that a GET answer the POST caused (an ack) is not sent before it,
        as in a single process.
        """
        transport = self.transport
        if transport.name != "polling":
            return lambda: None
        transport.hold()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                transport.release()

        return release

    def close(self, reason: str = FORCED_CLOSE) -> None:
        """Close the session: queued packets are flushed first, then ``reason`` is reported.

        On polling, the queue goes out first and the close packet (``1``) on the GET after it
        (within ``polling_close_timeout``); on WebSocket the close frame is sent at once.
        """
        if self._state != _OPEN:
            return
        self._state = _CLOSING
        self._set_sink(None)
        self._close_reason = reason
        self._stop_heartbeat()
        # An upgrade under way goes on, as with Node: a client between probe and "5" has paused
        # its polling, so the queue and the close can only reach it on the new WebSocket.
        if self.transport.name == "websocket":
            self.finish(reason, None)
            return
        self._close_timer = self.loop.call_later(
            self.options.polling_close_timeout, self.finish, reason, None
        )
        self._flush()

    # Internal API of the engine layer: called by the transports, the engine and the write
    # budget (other modules of roomcast.engine), not by applications.

    def start(self, open_packet: str) -> None:
        """Send the open packet and start the heartbeat."""
        self._send_control(open_packet)
        self._schedule_ping()

    def receive(self, transport: Transport, data: str | bytes) -> None:
        """One Engine.IO packet (WebSocket form) arrived on ``transport``."""
        if transport is not self.transport:
            if transport is self._probe:
                self._on_probe_data(data)
            return
        if self._state == _OPEN:
            if data.__class__ is str and data[:1] == "4":  # a text MESSAGE: _on_packet, inline
                if self._pong_timer is not None and not self._refreshed:
                    self._refresh_pong_deadline()
                message = data[1:]
                self.received += 1
                self.received_bytes += len(message)
                callback = self.on_message
                if callback is not None:
                    try:
                        callback(message)
                    except Exception:
                        logger.exception("error in on_message of session %s", self.sid)
                return
            packet = self._decode(data)
            if packet is not None:
                self._on_packet(packet)

    def receive_payload(self, payload: str) -> None:
        """A polling POST body: packets are handled in order until one fails to decode."""
        for part in payload.split(SEPARATOR):
            if self._state != _OPEN:
                return
            packet = self._decode(part)
            if packet is None:
                return
            if packet.type == PacketType.CLOSE:
                if self.transport.writable:  # like Node: the client's waiting GET gets a noop
                    self.transport.respond("6")
                self.finish(TRANSPORT_CLOSE, None)
                return
            self._on_packet(packet)

    def _decode(self, data: str | bytes) -> Packet | None:
        """Decode one packet; a bad one closes the session (``parse error``)."""
        try:
            return decode_packet(data)
        except ProtocolError as exc:
            logger.info("session %s: invalid packet: %s", self.sid, exc)
            self.finish(PARSE_ERROR, str(exc))
            return None

    def _on_packet(self, packet: Packet) -> None:
        kind = packet.type
        if self._pong_timer is not None and not self._refreshed and kind != PacketType.PONG:
            self._refresh_pong_deadline()
        if kind == _MESSAGE:
            self.received += 1
            self.received_bytes += len(packet.data)
            callback = self.on_message
            if callback is not None:
                try:
                    callback(packet.data)
                except Exception:
                    logger.exception("error in on_message of session %s", self.sid)
        elif kind == PacketType.PONG:
            if self._pong_timer is not None:
                self._pong_timer.cancel()
                self._pong_timer = None
                self._schedule_ping()
        elif kind == PacketType.PING:
            logger.info("session %s: client ping (invalid heartbeat direction)", self.sid)
            self.finish(TRANSPORT_ERROR, "invalid heartbeat direction")

    def _refresh_pong_deadline(self) -> None:
        """Like Node: traffic while a pong is awaited extends the deadline, once."""
        assert self._pong_timer is not None
        self._refreshed = True
        self._pong_timer.cancel()
        self._pong_timer = self.loop.call_later(self.options.ping_timeout, self._on_ping_timeout)

    def transport_closed(self, transport: Transport, reason: str, description: str | None) -> None:
        """``transport`` went away: end the session, or just the upgrade if it was the probe."""
        if transport is self._probe:
            logger.debug("session %s: upgrade failed: %s", self.sid, description or reason)
            self._cancel_upgrade()
        elif transport is self.transport:
            self.finish(reason, description)

    def poll_waiting(self) -> None:
        """A GET is waiting: answer it now if there is anything to say."""
        if self._state == _CLOSING and not self._queue:
            self.transport.respond("6" + SEPARATOR + "1")  # what Node sends a poll after close()
            self.finish(self._close_reason, None)
        elif self._queue:
            self._flush()
        elif self._probed:
            self.transport.respond("6")  # release the poll so the client can finish its upgrade

    # upgrade

    def begin_upgrade(self, probe: Transport) -> None:
        """A WebSocket ``probe`` for this session opened: wait for its ``2probe`` (until the
        upgrade timeout)."""
        self._probe = probe
        self._probed = False
        self._set_sink(None)  # a polling session has none: broadcasts queue for the poll
        self._upgrade_timer = self.loop.call_later(
            self.options.upgrade_timeout, self._upgrade_timeout
        )

    def _on_probe_data(self, data: str | bytes) -> None:
        probe = self._probe
        assert probe is not None
        if data == "2probe":
            probe.send_text("3probe")
            self._probed = True
            if self.transport.writable and not self._queue:
                self.transport.respond("6")
        elif data == "5" and self._state != _CLOSED:
            self._complete_upgrade(probe)
        else:
            logger.info("session %s: unexpected packet during upgrade", self.sid)
            self._cancel_upgrade()

    def _complete_upgrade(self, probe: Transport) -> None:
        polling = self.transport
        if self._upgrade_timer is not None:
            self._upgrade_timer.cancel()
            self._upgrade_timer = None
        self._probe = None
        self._probed = False
        self.transport = probe
        self.upgraded = True
        if polling.writable:
            polling.respond("1")
        polling.close()
        queue, self._queue = self._queue, []
        plain = self._plain
        self._drop_queue()
        for index, item in enumerate(queue):
            compress = plain is None or not plain[index]
            if item[0] == "b":  # polling form of a binary message: base64
                data = decode_packet(item).data
                assert isinstance(data, bytes)
                probe.send_binary(data, compress)
            else:
                probe.send_text(item, compress)
        if self._state == _CLOSING:
            self.finish(self._close_reason, None)
        elif self._state == _OPEN:  # after the queue: later broadcasts go after it
            self._set_sink(probe.sink_for(self))

    def _upgrade_timeout(self) -> None:
        self._upgrade_timer = None
        logger.info("session %s: upgrade timed out", self.sid)
        self._cancel_upgrade()

    def _cancel_upgrade(self) -> None:
        probe, self._probe = self._probe, None
        self._probed = False
        if self._upgrade_timer is not None:
            self._upgrade_timer.cancel()
            self._upgrade_timer = None
        if probe is not None:
            probe.close()

    # sending

    def _set_sink(self, sink: Callable[[bytes, bool], bool] | None) -> None:
        if sink is not self.sink:
            self.sink = sink
            callback = self.on_sink
            if callback is not None:
                callback()

    def _can_send_volatile(self) -> bool:
        if self._probe is not None or not self.transport.writable:
            return False
        return self.write_buffer_size <= self.options.write_buffer_high_water

    def _send_control(self, text: str) -> None:
        """Send a non-MESSAGE packet in text form (open, ping)."""
        if self._probe is None and self.transport.name == "websocket":
            self.transport.send_text(text)
        else:
            self._enqueue(text)

    def _enqueue(self, item: str, *, flush: bool = True, plain: bool = False) -> None:
        flags = self._plain
        if flags is not None:
            flags.append(plain)
        elif plain:
            self._plain = [False] * len(self._queue) + [True]
        self._queue.append(item)
        size = len(item) if item.isascii() else len(item.encode())
        self.queued_bytes += size
        budget = self._budget
        if budget is not None:
            budget.total += size
        if flush:
            self._flush()

    def _flush(self) -> None:
        """Answer the pending GET with queued packets (up to ``max_payload``); close if asked."""
        transport = self.transport
        if transport.name != "polling" or not transport.writable:
            self._check_buffer()
            return
        queue = self._queue
        if not queue and self._state == _OPEN:
            return
        if self._state == _CLOSING and not queue:
            transport.respond("1")
            self.finish(self._close_reason, None)
            return
        limit = self.options.max_payload
        count = self.options.polling_max_packets or len(queue)
        taken = size = 0  # in bytes, as the answer goes out (UTF-8)
        while taken < len(queue) and taken < count:
            item = queue[taken]
            item_size = len(item) if item.isascii() else len(item.encode())
            if taken and size + item_size + 1 > limit:
                break
            size += item_size + 1
            taken += 1
        parts = queue[:taken]
        del queue[:taken]
        compress = True
        flags = self._plain
        if flags is not None:
            compress = not all(flags[:taken])
            del flags[:taken]
            if not flags:
                self._plain = None
        self.queued_bytes -= size - taken
        if self._budget is not None:
            self._budget.total -= size - taken
        # Closing: like Node, the last queued packets go alone and the close packet waits for the
        # next GET (answered "6\x1e1" by _on_poll), so the client handles them before the close.
        transport.respond(SEPARATOR.join(parts), compress)
        self._check_buffer()

    def _check_buffer(self) -> None:
        """Past ``max_write_buffer``, cut the session off (see :meth:`_cut_off`); past the
        engine's ``max_write_buffer_total``, have the budget enforced."""
        if self.write_buffer_size > self.options.max_write_buffer and self._state == _OPEN:
            self.cut_off("write buffer full")
        budget = self._budget
        if budget is not None and budget.total > budget.limit:
            budget.schedule()

    def cut_off(self, why: str) -> None:
        """Drop every later send and what is unsent now, abort a WebSocket at once, and end
        the session (``transport error``, ``write buffer full``) once the current call (a
        broadcast loop) is over."""
        logger.info("session %s: %s, closing", self.sid, why)
        self.overflowed = 1
        self._state = _CLOSING
        self._set_sink(None)
        self._close_reason = TRANSPORT_ERROR
        self._queue.clear()
        self._drop_queue()
        # The peer does not read: a close frame would only queue behind the full buffer.
        self.loop.call_soon(self.finish, TRANSPORT_ERROR, "write buffer full", True)
        if self.transport.name == "websocket":
            self.transport.abort()  # its bytes leave the budget now, not next iteration

    def _drop_queue(self) -> None:
        """The polling queue was emptied (or handed over): its bytes leave the budget."""
        self._plain = None
        if self._budget is not None:
            self._budget.total -= self.queued_bytes
        self.queued_bytes = 0

    # heartbeat

    def _schedule_ping(self) -> None:
        if self._ping_timer is not None:
            self._ping_timer.cancel()
        self._ping_timer = self.loop.call_later(self.options.ping_interval, self._ping)

    def _ping(self) -> None:
        self._ping_timer = None
        if self._state != _OPEN:
            return
        self._refreshed = False
        self._send_control("2")
        if self._pong_timer is not None:
            self._pong_timer.cancel()
        self._pong_timer = self.loop.call_later(self.options.ping_timeout, self._on_ping_timeout)

    def _on_ping_timeout(self) -> None:
        self._pong_timer = None
        logger.debug("session %s: ping timeout", self.sid)
        self.finish(PING_TIMEOUT, None)

    def _stop_heartbeat(self) -> None:
        for timer in (self._ping_timer, self._pong_timer):
            if timer is not None:
                timer.cancel()
        self._ping_timer = self._pong_timer = None

    # the end

    def finish(self, reason: str, description: str | None, abort: bool = False) -> None:
        """End the session once: stop timers, close (or ``abort``) transports, tell the engine
        and the app."""
        if self._state == _CLOSED:
            return
        self._state = _CLOSED
        self._set_sink(None)
        self._close_reason = reason
        self._stop_heartbeat()
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        self._cancel_upgrade()
        transport = self.transport
        if transport.name == "polling" and transport.writable:
            transport.respond("1")
        if abort:
            transport.abort()
        else:
            transport.close()
        self._queue.clear()
        self._drop_queue()
        self._on_closed(self)
        callback, self.on_close = self.on_close, None
        self.on_message = self.on_sink = None
        if callback is not None:
            try:
                callback(reason, description)
            except Exception:
                logger.exception("error in on_close of session %s", self.sid)
