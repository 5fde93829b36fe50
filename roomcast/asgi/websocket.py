"""The ASGI ``websocket`` driver: a session's WebSocket transport over ``receive``/``send``.

The engine decides (:meth:`Engine.check_upgrade`) and attaches the session
(:meth:`Engine.attach_websocket`) exactly as for the httptools front; only the moving of
messages differs. ASGI's ``send`` is a coroutine that waits while the server's socket buffer is
full, so what the session sends is queued here and written by one writer task per connection:
the queued bytes are the connection's write buffer (``write_buffer_size``), counted in the
engine's budget, and the session's ``max_write_buffer`` cuts off a client that stops reading.
Framing, permessage-deflate and WebSocket pings are the ASGI server's; ``max_payload`` is
checked on each whole message it delivers (the server's own limit, uvicorn's
``--ws-max-size``, applies first).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from ..engine.budget import WriteBudget
from ..engine.engine import Engine
from ..engine.http import Response
from ..engine.prepared import PreparedMessage
from ..engine.reasons import TRANSPORT_CLOSE, TRANSPORT_ERROR
from ..engine.session import Session
from .http import encode_headers
from .request import request_from_scope
from .types import Message, Receive, Scope, Send

__all__ = ["ASGIWebSocketTransport", "serve_websocket"]

logger = logging.getLogger("roomcast.engine")

_MESSAGE_TOO_BIG = 1009
_OPEN, _CLOSING, _CLOSED = 0, 1, 2


class ASGIWebSocketTransport:
    """One accepted ASGI WebSocket carrying (or probing for) an Engine.IO session."""

    __slots__ = (
        "_budget",
        "_buffered",
        "_queue",
        "_reported",
        "_send",
        "_state",
        "_wake",
        "aborted",
        "max_payload",
        "session",
        "writer",
    )

    name = "websocket"

    def __init__(self, send: Send, *, max_payload: int, budget: WriteBudget | None) -> None:
        self.session: Session | None = None
        self.max_payload = max_payload
        self._send = send
        self._budget = budget
        self._queue: deque[tuple[Message, int]] = deque()
        self._buffered = 0
        """Bytes queued and not yet taken by the server's ``send``."""
        self._state = _OPEN
        self._reported = False
        self._wake = asyncio.Event()
        self.aborted = False
        self.writer: asyncio.Future[None] | None = None
        """The task running :meth:`write`."""

    # the Transport protocol

    @property
    def writable(self) -> bool:
        """Whether the connection is open for sending."""
        return self._state == _OPEN

    @property
    def write_buffer_size(self) -> int:
        """Bytes sent by the session and not yet taken by the ASGI server."""
        return self._buffered

    def _put(self, message: Message, size: int) -> None:
        self._queue.append((message, size))
        self._buffered += size
        if self._budget is not None:
            self._budget.total += size
        self._wake.set()

    def send_text(self, text: str, compress: bool = True) -> int:
        """Queue one text message; returns the bytes queued."""
        if self._state == _OPEN:
            self._put({"type": "websocket.send", "text": text}, len(text))
        return self._buffered

    def send_binary(self, data: bytes, compress: bool = True) -> int:
        """Queue one binary message; returns the bytes queued."""
        if self._state == _OPEN:
            self._put({"type": "websocket.send", "bytes": data}, len(data))
        return self._buffered

    def send_prepared(self, message: PreparedMessage) -> int:
        """Queue a broadcast's messages (ASGI sends messages, not frames: one each)."""
        if self._state == _OPEN:
            for item in message.messages:
                if isinstance(item, str):
                    self._put({"type": "websocket.send", "text": "4" + item}, len(item) + 1)
                else:
                    self._put({"type": "websocket.send", "bytes": item}, len(item))
        return self._buffered

    def sink_for(self, session: Session) -> None:
        """No broadcast fast path: ASGI sends messages, not frames."""
        return None

    def respond(self, payload: str, compress: bool = True) -> None:  # pragma: no cover
        raise NotImplementedError

    def hold(self) -> None:  # pragma: no cover - polling only
        raise NotImplementedError

    def release(self) -> None:  # pragma: no cover - polling only
        raise NotImplementedError

    def close(self, code: int = 1000) -> None:
        """Close after what is queued (a close frame with ``code``)."""
        if self._state == _OPEN:
            self._state = _CLOSING
            self._queue.append(({"type": "websocket.close", "code": code}, 0))
            self._wake.set()

    def abort(self) -> None:
        """Drop what is queued and close now. ASGI cannot reset a connection: the server
        sends its close frame, and its own timeouts end a peer that no longer reads."""
        if self.aborted:
            return
        self.aborted = True
        self._drop()
        self._state = _CLOSED
        writer = self.writer
        if writer is not None and not writer.done():
            writer.cancel()  # perhaps waiting in send() on a peer that does not read

    def start(self) -> None:
        """Nothing to replay: the ASGI server delivers messages only once accepted."""

    def refresh_buffered(self) -> int:
        """The bytes queued (always exact here: nothing drains unseen)."""
        return self._buffered

    def _drop(self) -> None:
        if self._budget is not None:
            self._budget.total -= self._buffered
        self._buffered = 0
        self._queue.clear()

    # the connection's two loops

    async def write(self) -> None:
        """Hand queued messages to the server's ``send`` until closed or aborted."""
        queue = self._queue
        try:
            while self._state != _CLOSED:
                if not queue:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                message, size = queue[0]
                await self._send(message)
                if queue and queue[0][0] is message:  # not dropped by abort() meanwhile
                    queue.popleft()
                    self._buffered -= size
                    if self._budget is not None:
                        self._budget.total -= size
                if message["type"] == "websocket.close":
                    break
        except OSError as exc:  # the server's send on a closed connection
            logger.debug("websocket send failed: %s", exc)
        finally:
            self._state = _CLOSED
            self._drop()

    async def read(self, receive: Receive) -> None:
        """Deliver the client's messages to the session until it disconnects."""
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                self.report(TRANSPORT_CLOSE, None)
                return
            if kind != "websocket.receive":
                continue
            text = message.get("text")
            data: str | bytes = text if text is not None else message.get("bytes") or b""
            size = len(data) if isinstance(data, bytes) or data.isascii() else len(data.encode())
            if size > self.max_payload:
                logger.info("websocket message of %d bytes past max_payload", size)
                self.close(_MESSAGE_TOO_BIG)
                self.report(TRANSPORT_ERROR, "message too big")
                continue
            session = self.session
            if session is not None and not self._reported:
                session.receive(self, data)

    def report(self, reason: str, description: str | None) -> None:
        """Tell the session, once, that this WebSocket is gone."""
        if self._reported:
            return
        self._reported = True
        session = self.session
        if session is not None:
            session.transport_closed(self, reason, description)


async def serve_websocket(engine: Engine, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one WebSocket request of ``engine``: refuse it like the front does, or accept it
    and carry its session until the client or the session closes it."""
    request = request_from_scope(scope)
    first = await receive()
    if first["type"] != "websocket.connect":
        return
    decision = engine.check_upgrade(request)
    if decision is not None and not isinstance(decision, Response):
        decision = await decision
    if decision is not None:
        await _refuse(scope, send, decision)
        return
    headers = encode_headers(engine.upgrade_headers(request))
    await send({"type": "websocket.accept", "headers": headers})
    ws = ASGIWebSocketTransport(send, max_payload=engine.options.max_payload, budget=engine.budget)
    writer = ws.writer = asyncio.ensure_future(ws.write())
    reader = asyncio.ensure_future(ws.read(receive))
    try:
        engine.attach_websocket(request, ws)
        await asyncio.wait((reader, writer), return_when=asyncio.FIRST_COMPLETED)
        if reader.done():
            ws.abort()  # the client is gone: nothing more can be sent
        elif not ws.aborted:
            # closed by the server side: the client's half of the closing handshake
            await asyncio.wait((reader,), timeout=engine.options.websocket_close_timeout)
    finally:
        for task in (reader, writer):
            if not task.done():
                task.cancel()
        ws.report(TRANSPORT_CLOSE, None)
        engine.websocket_lost(ws)
        ws.session = None  # which refers to ws: no cycle left to the garbage collector


async def _refuse(scope: Scope, send: Send, response: Response) -> None:
    """Answer a refused upgrade with the engine's HTTP response where the server allows it
    (the ``websocket.http.response`` extension); else close (servers answer 403)."""
    if "websocket.http.response" in scope.get("extensions", {}):
        headers = encode_headers(response.headers)
        headers.append((b"content-length", str(len(response.body)).encode()))
        await send(
            {"type": "websocket.http.response.start", "status": response.status, "headers": headers}
        )
        await send({"type": "websocket.http.response.body", "body": response.body})
    else:
        await send({"type": "websocket.close", "code": 1008})
