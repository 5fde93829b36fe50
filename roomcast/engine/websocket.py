"""The WebSocket transport: websockets' Sans-I/O ``ServerProtocol`` under an ``asyncio.Protocol``.

Every WebSocket byte (handshake, framing, close) is produced and parsed by ``websockets``, with
one measured exception: the client's complete, unfragmented, uncompressed text and binary frames
are split and unmasked by :mod:`roomcast.engine.client_frames` (websockets' generator-based
parser was a third of the server's busy time on acknowledged events); any other frame goes to
websockets, in order, and once it has failed or closed the connection, everything does. This
module moves bytes between websockets and the asyncio transport, reassembles fragmented messages
and hands complete messages to the session. No task per connection: timers are
``loop.call_later``, and writes are coalesced by a :class:`WriteBatch` (under load, one socket
write per connection per event-loop iteration, whatever the number of messages sent to it).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request as WsRequest
from websockets.http11 import Response as WsResponse
from websockets.protocol import CLOSED, OPEN, State
from websockets.server import ServerProtocol
from websockets.utils import accept_key as websocket_accept_key

from .client_frames import ClientFrames
from .prepared import PreparedMessage
from .reasons import TRANSPORT_CLOSE, TRANSPORT_ERROR
from .server_frames import binary_frame, text_frame

if TYPE_CHECKING:
    from .budget import WriteBudget
    from .session import Session

__all__ = ["WebSocketTransport", "WriteBatch", "accept_key", "open_websocket"]

logger = logging.getLogger("roomcast.engine")
_WS_LOGGER = logging.getLogger("websockets.server")  # looked up once, not per connection

_TEXT, _BINARY, _CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONT


class _ServerProtocol(ServerProtocol):
    """websockets' server protocol, failing connections with a bare close code.

    websockets puts its diagnosis in the close reason (``frame with 102 bytes exceeds limit of
    100 bytes``); Node's ``ws`` sends the code alone, and so do we: the reason is logged, never
    sent (a client learns nothing of the server's internals or limits from it).
    """

    open = False
    """Whether :attr:`state` is ``OPEN``: a plain attribute, kept by the state's setter (through
    which websockets makes every change), for the broadcast path to read without a call."""

    @property
    def state(self) -> State:
        return self._state

    @state.setter
    def state(self, state: State) -> None:
        ServerProtocol.state.fset(self, state)  # type: ignore[attr-defined]
        self.open = state is OPEN

    def fail(self, code: CloseCode | int, reason: str = "") -> None:
        super().fail(code)


class WriteBatch:
    """Coalesces the writes of one event-loop iteration, like a cork on every socket.

    Under load, a connection's bytes are kept until the end of the current iteration (one
    ``call_soon`` for all connections), then written with one ``transport.write``: a burst of
    broadcasts or of ack answers costs one system call per connection instead of one per
    message.

    Without a burst, that wait is pure latency: a broadcast to a room would reach its first
    members only once the server has walked the whole room. So the batch watches what it
    coalesces: after an iteration in which its first connection got a single message, each
    connection's first bytes of the next iteration are written at once ("through"), and only
    what follows them in the same iteration waits for the flush. When an iteration coalesced
    several messages again, the next one batches everything. One broadcast at a time, paced
    traffic and single round trips then go out as a write per message would, and bursts keep
    their one write per connection (but for the first iteration of a burst, which costs a
    second write per connection).
    """

    __slots__ = ("_dirty", "_handle", "_through", "budget")

    def __init__(self, budget: WriteBudget | None = None) -> None:
        self._dirty: list[WebSocketTransport] = []
        self._handle: asyncio.Handle | None = None
        self._through = True
        self.budget = budget
        """What the connections flushed here count in; enforced after a flush past its limit."""

    def add(self, ws: WebSocketTransport) -> bool:
        """Flush ``ws`` at the end of this iteration; returns whether its first bytes should
        rather be written now (no burst going on)."""
        self._dirty.append(ws)
        if self._handle is None:
            self._handle = ws.loop.call_soon(self.flush)
        return self._through

    def flush(self) -> None:
        """Write every pending connection's bytes now."""
        self._handle = None
        dirty, self._dirty = self._dirty, []
        if dirty:
            # The first connection tells whether this iteration coalesced: after a write
            # through, anything more is waiting; otherwise two messages make a bytearray.
            out = dirty[0]._out
            self._through = not out if self._through else not isinstance(out, bytearray)
        for ws in dirty:
            try:
                ws._flush()
            except Exception:  # one broken transport must not stall the others
                logger.exception("websocket write failed")
        budget = self.budget
        if budget is not None and budget.total > budget.limit:
            budget.enforce()


class WebSocketTransport(asyncio.Protocol):
    """One accepted WebSocket connection carrying (or probing for) an Engine.IO session."""

    __slots__ = (
        "_backlog",
        "_batch",
        "_budget",
        "_buffered",
        "_close_timeout",
        "_close_timer",
        "_fragments",
        "_frames",
        "_high_water",
        "_limit",
        "_opcode",
        "_out",
        "_ping_interval",
        "_ping_timer",
        "_reported",
        "loop",
        "on_lost",
        "protocol",
        "session",
        "transport",
    )

    name = "websocket"

    def __init__(
        self,
        transport: asyncio.Transport,
        protocol: _ServerProtocol,
        *,
        close_timeout: float = 5.0,
        ping_interval: float | None = None,
        batch: WriteBatch | None = None,
        fast_frames: bool = True,
    ) -> None:
        self.transport = transport
        self.protocol = protocol
        self.session: Session | None = None
        self.on_lost: Callable[[WebSocketTransport], None] | None = None
        """Called once the TCP connection is gone."""
        self.loop = asyncio.get_running_loop()
        self._close_timeout = close_timeout
        self._close_timer: asyncio.TimerHandle | None = None
        self._ping_interval = ping_interval
        self._ping_timer: asyncio.TimerHandle | None = None
        self._fragments: list[bytes] | None = None  # only while a fragmented message arrives
        self._opcode: Opcode | None = None
        self._reported = False
        self._backlog: list[Frame] | None = None
        self._batch = batch if batch is not None else WriteBatch()
        self._out: bytes | bytearray | None = None
        """Bytes waiting for the batch's flush (in order, before anything written later)."""
        self._buffered = 0
        """The socket's write buffer size after the last flush: it can only have shrunk since.
        What this connection counts in the batch's budget."""
        self._budget = self._batch.budget
        self._limit = self._high_water = 0  # set by sink_for
        self._frames: ClientFrames | None = None
        """Splits the client's frames while simple ones may be parsed here (``fast_frames``, no
        extension, open and not failed); ``None``: every byte goes to websockets."""
        max_size = protocol.max_message_size
        if fast_frames and not protocol.extensions and max_size is not None:
            self._frames = ClientFrames(max_size)
        if ping_interval:
            self._ping_timer = self.loop.call_later(ping_interval, self._send_ping)

    # sending

    @property
    def writable(self) -> bool:
        """Whether the connection is open for sending."""
        return self.protocol.state is OPEN

    @property
    def write_buffer_size(self) -> int:
        """Bytes sent and not yet handed to the network (batched or in the socket's buffer)."""
        out = self._out
        return self.transport.get_write_buffer_size() + (len(out) if out is not None else 0)

    def send_text(self, text: str, compress: bool = True) -> int:
        """Send one text frame (``compress=False``: not compressed even with permessage-deflate
        negotiated); returns an upper bound of the bytes left in the write buffer (as
        :meth:`send_prepared`: cheap for every packet; :attr:`write_buffer_size` is exact)."""
        protocol = self.protocol
        if protocol.open:
            if protocol.extensions and compress:
                protocol.send_text(text.encode())
                self._write()
            else:  # the frame websockets would queue, without its per-frame bookkeeping
                self._send(text_frame(text.encode()))
        out = self._out
        return self._buffered + (len(out) if out is not None else 0)

    def send_binary(self, data: bytes, compress: bool = True) -> int:
        """Send one binary frame (``compress`` as in :meth:`send_text`); returns an upper bound
        of the bytes left in the write buffer, as :meth:`send_text`."""
        protocol = self.protocol
        if protocol.open:
            if protocol.extensions and compress:
                protocol.send_binary(data)
                self._write()
            else:
                self._send(binary_frame(data))
        out = self._out
        return self._buffered + (len(out) if out is not None else 0)

    def sink_for(self, session: Session) -> Callable[[bytes, bool], bool] | None:
        """:meth:`push` for ``session`` (whose options it takes the write-buffer limits from),
        or None when this connection negotiated permessage-deflate: a compressed broadcast
        is sent frame by frame (:meth:`send_prepared`)."""
        protocol = self.protocol
        if protocol.extensions:
            return None
        options = session.options
        self._limit = options.max_write_buffer
        self._high_water = options.write_buffer_high_water
        return self.push

    def push(self, frames: bytes, volatile: bool) -> bool:
        """The broadcast fast path: queue ``frames`` (``PreparedMessage.websocket_frames``) as
        :meth:`Session.send_prepared` would, in one call. The session hands it out (its
        ``sink``) only while it is open on this WebSocket with no upgrade under way.

        Returns False, having sent nothing, when the caller must take the session's path
        instead: the connection is not open (no data after a close frame), or ``volatile``
        and the upper bound of the write buffer is past the high-water mark (the session
        checks the exact size, and counts a drop). Past ``max_write_buffer`` after queueing,
        the session checks its buffer (a slow consumer is cut off).
        """
        if not self.protocol.open:
            return False
        out = self._out
        if out:  # as _send: after the bytes waiting for the batch's flush
            if volatile and self._buffered + len(out) > self._high_water:
                return False
            if isinstance(out, bytes):
                buffer = self._out = bytearray(out)
                buffer += frames
            else:
                out += frames
        elif volatile and self._buffered > self._high_water:
            return False
        elif out is None:  # WriteBatch.add and _write_through, inline: one call per recipient
            batch = self._batch
            batch._dirty.append(self)
            if batch._handle is None:
                batch._handle = self.loop.call_soon(batch.flush)
            if batch._through:  # the common case of a quiet spell: written now
                self._out = b""  # still in this iteration's batch: what follows waits for it
                transport = self.transport
                if not transport.is_closing():
                    try:
                        transport.write(frames)
                    except Exception:  # as in the batch's flush: the sender carries on
                        logger.exception("websocket write failed")
                    else:
                        buffered = transport.get_write_buffer_size()
                        budget = self._budget
                        if budget is not None:
                            budget.total += buffered - self._buffered
                        self._buffered = buffered
            else:
                self._out = frames
        else:
            self._out = frames
        out = self._out
        if out is not None and self._buffered + len(out) > self._limit:
            session = self.session
            if session is not None:
                session._check_buffer()
        return True

    def send_prepared(self, message: PreparedMessage) -> int:
        """Send a broadcast: the shared uncompressed frames in one write, or frame by frame
        when permessage-deflate is negotiated and ``message.compress`` is true.

        An uncompressed message (RSV1 clear) is valid on a permessage-deflate connection
        (RFC 7692 section 6): the compressor, and its context if taken over, just skips it.

        Returns an upper bound of the bytes left in the write buffer.
        """
        protocol = self.protocol
        if protocol.state is OPEN:
            if not protocol.extensions or not message.compress:
                self._send(message.websocket_frames())
            else:
                for item in message.messages:
                    if isinstance(item, str):
                        protocol.send_text(("4" + item).encode())
                    else:
                        protocol.send_binary(item)
                self._write()
        out = self._out
        # An upper bound, cheap enough for every recipient of a broadcast: the caller asks
        # write_buffer_size for the exact figure when this passes its limit.
        return self._buffered + (len(out) if out is not None else 0)

    def respond(
        self, payload: str, compress: bool = True
    ) -> None:  # pragma: no cover - polling only
        raise NotImplementedError

    def hold(self) -> None:  # pragma: no cover - polling only
        raise NotImplementedError

    def release(self) -> None:  # pragma: no cover - polling only
        raise NotImplementedError

    def close(self) -> None:
        """Start the closing handshake (empty close frame, like Node's ``ws.close()``)."""
        if self.protocol.state is OPEN:
            self.protocol.send_close()
            self._write()
            self._expect_close()

    def abort(self) -> None:
        """Drop the connection now: bytes not yet written are discarded, no close frame is sent
        and the TCP connection is reset (for a peer that stopped reading). Idempotent."""
        self._out = None  # the batch's flush then writes nothing for this connection
        self._release()
        for timer in (self._close_timer, self._ping_timer):
            if timer is not None:
                timer.cancel()
        self._close_timer = self._ping_timer = None
        self.protocol.state = CLOSED  # nothing more is sent; connection_lost expects no EOF
        self.transport.abort()

    def _write(self) -> None:
        """Move what websockets has to send into the batch."""
        for data in self.protocol.data_to_send():
            if data:
                self._send(data)
            else:
                self._flush()
                self.transport.close()  # the server closes TCP first

    def _send(self, data: bytes) -> None:
        out = self._out
        if out:  # bytes wait for the batch's flush: these go after them
            if isinstance(out, bytes):
                buffer = self._out = bytearray(out)
                buffer += data
            else:
                out += data
        elif out is None and self._batch.add(self):
            self._write_through(data)
        else:
            self._out = data  # the shared broadcast frame itself: no copy for one message

    def _write_through(self, data: bytes) -> None:
        """No burst going on: ``data`` goes out now (the connection is in the batch already)."""
        self._out = data
        try:
            self._flush()
        except Exception:  # as in the batch's flush: the sender carries on
            logger.exception("websocket write failed")
        self._out = b""  # still in this iteration's batch: what follows waits for it

    def _flush(self) -> None:
        out = self._out
        if out is not None:
            self._out = None
            transport = self.transport
            if out and not transport.is_closing():
                transport.write(out)
                buffered = transport.get_write_buffer_size()
                budget = self._budget
                if budget is not None:
                    budget.total += buffered - self._buffered
                self._buffered = buffered

    def refresh_buffered(self) -> int:
        """Account the socket's write buffer as it is now; returns it."""
        buffered = self.transport.get_write_buffer_size()
        budget = self._budget
        if budget is not None:
            budget.total += buffered - self._buffered
        self._buffered = buffered
        return buffered

    def _release(self) -> None:
        """Nothing of this connection is held any more (aborted or gone)."""
        budget = self._budget
        if budget is not None:
            budget.total -= self._buffered
        self._buffered = 0

    def resume_writing(self) -> None:
        # The socket drained below its low-water mark: the budget learns it without a flush.
        self.refresh_buffered()

    def _expect_close(self) -> None:
        if self._close_timer is None and not self.transport.is_closing():
            self._close_timer = self.loop.call_later(self._close_timeout, self.transport.abort)

    def _send_ping(self) -> None:
        self._ping_timer = None
        if self.protocol.state is OPEN:
            self.protocol.send_ping(b"")
            self._write()
            assert self._ping_interval is not None
            self._ping_timer = self.loop.call_later(self._ping_interval, self._send_ping)

    # receiving

    def start(self) -> None:
        """Handle frames that came with the handshake request (call once a session is attached)."""
        backlog, self._backlog = self._backlog, None
        for frame in backlog or ():
            self._on_frame(frame)
        self._process()

    def data_received(self, data: bytes) -> None:
        frames = self._frames
        if frames is None:
            self.protocol.receive_data(data)
            self._process()
            return
        protocol = self.protocol
        deliver = self._deliver
        while protocol.open and protocol.parser_exc is None:
            simple, other = frames.split(data, protocol.current_size is None)
            for opcode, payload in simple:
                deliver(opcode, payload)
            if other is None:
                return
            data = b""
            protocol.receive_data(other)  # a frame websockets parses, answers or fails
            self._process()
        # Failed or closing: websockets has the rest, as it has everything from now on.
        self._frames = None
        rest = frames.drain() + data
        if rest:
            protocol.receive_data(rest)
            self._process()

    def _take_over(self, rest: bytes) -> None:
        """Frames that came with the handshake request: every one parsed by websockets (the
        session is not there yet: :meth:`start` replays them), a frame not all there kept by the
        splitter, so websockets' parser is at a frame boundary when the splitter goes on."""
        protocol = self.protocol
        frames = self._frames
        if frames is None:
            protocol.receive_data(rest)
        else:
            data: bytes = rest
            while protocol.state is OPEN and protocol.parser_exc is None:
                _, other = frames.split(data, False)
                data = b""
                if other is None:
                    break
                protocol.receive_data(other)
            else:
                self._frames = None
                protocol.receive_data(frames.drain() + data)
        self._backlog = [e for e in protocol.events_received() if isinstance(e, Frame)] or None
        self._write()  # a pong or a close answered by websockets

    def _give_up_frames(self) -> None:
        """Hand what the splitter holds to websockets (the end of the stream is next)."""
        frames = self._frames
        if frames is not None:
            self._frames = None
            rest = frames.drain()
            if rest and self.protocol.state is not CLOSED:
                self.protocol.receive_data(rest)

    def eof_received(self) -> bool | None:
        self._give_up_frames()
        self.protocol.receive_eof()
        self._process()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._close_timer, self._ping_timer):
            if timer is not None:
                timer.cancel()
        self._close_timer = self._ping_timer = None
        self._out = None
        self._release()
        protocol = self.protocol
        if protocol.state is not CLOSED:
            self._give_up_frames()
            protocol.receive_eof()
        self._report()
        exc = protocol.parser_exc
        if exc is not None:
            # Its traceback holds websockets' parser frame, which holds the protocol: a cycle.
            exc.__traceback__ = None
        # websockets' parser is a generator that holds the protocol, which holds it: a cycle,
        # until the generator ends. After a closing handshake it waits at its last step
        # forever; ending it here lets reference counting free the protocol at once.
        protocol.parser.close()
        on_lost, self.on_lost = self.on_lost, None
        if on_lost is not None:
            on_lost(self)
        # The session refers to this transport: let reference counting free both once they
        # are dropped (a session's transport stays readable, e.g. its name, after the end).
        self.session = None

    def _process(self) -> None:
        for event in self.protocol.events_received():
            if isinstance(event, Frame):
                self._on_frame(event)
        self._write()
        if self.protocol.parser_exc is not None or self.protocol.close_expected():
            self._expect_close()
            self._report()

    def _on_frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is _TEXT or opcode is _BINARY:
            if not frame.fin:
                self._opcode = opcode
                self._fragments = [bytes(frame.data)]
                return
            self._deliver(opcode, bytes(frame.data))
        elif opcode is _CONT and self._opcode is not None and self._fragments is not None:
            self._fragments.append(bytes(frame.data))
            if frame.fin:
                opcode, self._opcode = self._opcode, None
                data, self._fragments = b"".join(self._fragments), None
                self._deliver(opcode, data)

    def _deliver(self, opcode: Opcode, data: bytes) -> None:
        session = self.session
        # Not the protocol's state: the frames parsed in the same read as a close frame come
        # before it, and are delivered (in order) before the close is reported, as with Node.
        if session is None or self._reported:
            return
        if opcode is _TEXT:
            try:
                text = data.decode()
            except UnicodeDecodeError:
                logger.info("session %s: invalid UTF-8 in a text frame", session.sid)
                self.protocol.fail(CloseCode.INVALID_DATA)
                self._write()
                self._expect_close()
                self._report(TRANSPORT_ERROR, "invalid UTF-8")
                return
            session.receive(self, text)
        else:
            session.receive(self, data)

    def _report(self, reason: str | None = None, description: str | None = None) -> None:
        """Tell the session, once, that this WebSocket is gone."""
        if self._reported:
            return
        self._reported = True
        protocol = self.protocol
        if reason is None:
            exc = protocol.parser_exc
            if exc is not None and not isinstance(exc, EOFError):
                reason, description = TRANSPORT_ERROR, str(exc)
                logger.info("websocket error: %s", exc)
            else:
                reason = TRANSPORT_CLOSE
        session = self.session
        if session is not None:
            session.transport_closed(self, reason, description)


def accept_key(key: str) -> str | None:
    """The ``Sec-WebSocket-Accept`` answering a client's ``Sec-WebSocket-Key`` (RFC 6455 section
    4.2.2), or ``None`` if the key is not the base64 of 16 bytes."""
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            return None
    except binascii.Error:
        return None
    return websocket_accept_key(key)


def _has_token(value: str | None, token: str) -> bool:
    return value is not None and any(part.strip().lower() == token for part in value.split(","))


def _plain_accept(headers: Mapping[str, str], compression: bool) -> str | None:
    """The accept key when the handshake needs nothing of websockets' negotiation: a valid
    version 13 upgrade, and no permessage-deflate to agree on. ``None``: take the full path."""
    if compression and "sec-websocket-extensions" in headers:
        return None
    if headers.get("sec-websocket-version") != "13":
        return None
    if not _has_token(headers.get("connection"), "upgrade"):
        return None
    if not _has_token(headers.get("upgrade"), "websocket"):
        return None
    key = headers.get("sec-websocket-key")
    return accept_key(key) if key is not None and key.isascii() else None


def open_websocket(
    transport: asyncio.Transport,
    raw_request: bytes,
    *,
    max_payload: int,
    compression: bool,
    extra_headers: list[tuple[str, str]],
    close_timeout: float = 5.0,
    ping_interval: float | None = None,
    batch: WriteBatch | None = None,
    headers: Mapping[str, str] | None = None,
    fast_frames: bool = True,
) -> WebSocketTransport | None:
    """Open a WebSocket: run its opening handshake on ``transport`` with the replayed request bytes.

    Returns the open :class:`WebSocketTransport` (already the transport's protocol), or ``None``
    when websockets refused the handshake (its HTTP answer is written and the socket closed).
    Frames that followed the request are handled by :meth:`WebSocketTransport.start`.

    ``headers``, the request's headers as the HTTP front parsed them, allow the short path:
    when the request is a valid upgrade with nothing to negotiate (no permessage-deflate, no
    subprotocol is ever chosen), the 101 answer is written here, with the three headers Node's
    ``ws`` sends, and websockets' protocol starts in the OPEN state. Parsing the request a
    second time and websockets' response building were a fifth of a handshake's CPU. Any
    other request (invalid, or with extensions to agree on) takes websockets' own handshake,
    which answers it.

    ``fast_frames=False``: every frame is parsed by websockets (see :mod:`.client_frames`; tests
    compare the two).
    """
    end = raw_request.find(b"\r\n\r\n") + 4
    accept = _plain_accept(headers, compression) if headers is not None and end >= 4 else None
    if accept is not None:
        protocol = _ServerProtocol(max_size=max_payload, state=OPEN, logger=_WS_LOGGER)
        lines = [
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Accept: {accept}",
        ]
        lines += [f"{name}: {value}" for name, value in extra_headers]
        ws = WebSocketTransport(
            transport,
            protocol,
            close_timeout=close_timeout,
            ping_interval=ping_interval,
            batch=batch,
            fast_frames=fast_frames,
        )
        transport.set_protocol(ws)
        # Held for the batch's flush even when writing through: the open packet, sent as the
        # session is made, joins the 101 in one write.
        ws._out = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        ws._batch.add(ws)
        rest = raw_request[end:]
        if rest:
            ws._take_over(rest)
        return ws
    protocol = _ServerProtocol(
        extensions=[ServerPerMessageDeflateFactory()] if compression else None,
        max_size=max_payload,
        logger=_WS_LOGGER,
    )
    # The request alone first: the frames that may follow it are parsed by a fresh parser.
    head, rest = (raw_request[:end], raw_request[end:]) if end >= 4 else (raw_request, b"")
    protocol.receive_data(head)
    events = protocol.events_received()
    request = events[0] if events and isinstance(events[0], WsRequest) else None
    if request is None:
        for data in protocol.data_to_send():
            if data:
                transport.write(data)
        transport.close()
        return None
    response: WsResponse = protocol.accept(request)
    if response.status_code == 101:
        for name, value in extra_headers:
            response.headers[name] = value
    protocol.send_response(response)
    if response.status_code == 101 and end >= 4:
        # websockets' parser generator keeps the parsed request (and its headers) in its frame
        # for the connection's whole life: ~1.5 KiB and a dozen GC-tracked objects per idle
        # connection. Nothing is half-read now, so start a fresh frame parser, the way
        # websockets itself swaps in ``discard()``, and feed it what followed the request.
        protocol.parser = protocol.parse()
        next(protocol.parser)
    ws = WebSocketTransport(
        transport,
        protocol,
        close_timeout=close_timeout,
        ping_interval=ping_interval,
        batch=batch,
        fast_frames=fast_frames,
    )
    transport.set_protocol(ws)
    ws._write()
    if response.status_code != 101:
        logger.info("websocket handshake refused: %s", protocol.handshake_exc)
        ws._flush()
        transport.close()
        return None
    if rest:
        ws._take_over(rest)
    return ws
