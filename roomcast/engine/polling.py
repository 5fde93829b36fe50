"""HTTP long-polling: a GET waits for packets, a POST carries a payload (answered like Node)."""

from __future__ import annotations

import asyncio
import logging
import zlib
from typing import TYPE_CHECKING

from .hooks import AnswerHooks, apply_header_hooks
from .http import Request, Response
from .prepared import PreparedMessage
from .reasons import TRANSPORT_ERROR

if TYPE_CHECKING:
    from .session import Session

__all__ = ["PollingTransport"]

logger = logging.getLogger("roomcast.engine")

Headers = list[tuple[str, str]]


class PollingTransport:
    """The polling side of a session: at most one pending GET, answered by :meth:`respond`."""

    __slots__ = (
        "_encoding",
        "_get",
        "_get_headers",
        "_get_request",
        "_held",
        "_holds",
        "hooks",
        "session",
    )

    name = "polling"

    def __init__(self, hooks: AnswerHooks | None = None) -> None:
        self.session: Session | None = None
        self.hooks = hooks
        """The engine's cookie and header hooks, applied to each answer (``None``: none set)."""
        self._get_request: Request | None = None
        self._get: asyncio.Future[Response] | None = None
        self._get_headers: Headers = []
        self._encoding: str | None = None
        self._holds = 0
        self._held: tuple[asyncio.Future[Response], Response] | None = None

    @property
    def writable(self) -> bool:
        """Whether a GET is waiting for an answer."""
        return self._get is not None

    @property
    def write_buffer_size(self) -> int:
        """Always 0: the session's queue holds what waits for the next GET."""
        return 0

    def on_request(self, request: Request, headers: Headers) -> Response | asyncio.Future[Response]:
        """Serve a GET (long-poll) or POST (payload); ``headers`` (CORS) are added."""
        if request.method == "GET":
            return self._on_poll(request, headers)
        if request.method == "POST":
            return self._on_post(request, headers)
        return Response(500, list(headers))

    def _error(self, description: str) -> None:
        session = self.session
        logger.info("session %s: %s", session.sid if session else "?", description)
        if session is not None:
            session.transport_closed(self, TRANSPORT_ERROR, description)

    def _on_poll(self, request: Request, headers: Headers) -> Response | asyncio.Future[Response]:
        if self._get is not None:
            self._error("overlap from client")
            return Response(400, list(headers))
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        future.add_done_callback(self._on_get_done)
        self._get = future
        self._get_headers = headers
        self._get_request = request
        self._encoding = _accepted_encoding(request.headers.get("accept-encoding", ""))
        user_agent = request.headers.get("user-agent", "")
        if ";MSIE" in user_agent or "Trident/" in user_agent:
            self._get_headers = [*headers, ("X-XSS-Protection", "0")]
        if self.session is not None:
            self.session.poll_waiting()
        return future

    def forget_get(self, future: asyncio.Future[Response]) -> None:
        """Stop waiting on the GET ``future`` (from :meth:`on_request`) without ending the
        session, unlike a GET whose connection closes: what it would have carried goes to the
        next GET. For a GET relayed by another server whose connection to us is lost (the
        client's own GET may still come again, by another way)."""
        if self._get is future:
            self._get = None
            future.cancel()

    def _on_get_done(self, future: asyncio.Future[Response]) -> None:
        if future.cancelled() and self._get is future:
            self._get = None
            self._error("poll connection closed prematurely")

    def _on_post(self, request: Request, headers: Headers) -> Response:
        if request.headers.get("content-type") == "application/octet-stream":
            self._error("invalid content")
            return Response(400, list(headers))
        if request.truncated:
            self._error("payload too large")
            return Response(413, list(headers), close=True)
        if request.timed_out:
            self._error("http request timeout")
            return Response(408, list(headers), close=True)
        if self.session is not None:
            self.session.receive_payload(request.body.decode("utf-8", "replace"))
        answer = [
            ("Content-Type", "text/html"),
            ("Content-Length", "2"),
            ("cache-control", "no-store"),
        ]
        if self.hooks is not None:
            answer = apply_header_hooks(
                self.hooks, answer, request, self.session.sid if self.session else None
            )
        return Response(200, [*answer, *headers], b"ok")

    def sink_for(self, session: Session) -> None:
        """No broadcast fast path: broadcasts queue for the next poll."""
        return None

    def respond(self, payload: str, compress: bool = True) -> None:
        """Answer the pending GET with a polling payload (gzip/deflate from the threshold on,
        unless ``compress`` is false: every packet in it was sent with ``compress=False``)."""
        future, self._get = self._get, None
        request, self._get_request = self._get_request, None
        if future is None or future.done():
            return
        body = payload.encode()
        headers = [("Content-Type", "text/plain; charset=UTF-8")]
        threshold = self.session.options.http_compression_threshold if self.session else None
        if (
            compress
            and self._encoding is not None
            and threshold is not None
            and len(body) >= threshold
        ):
            compressor = zlib.compressobj(wbits=31 if self._encoding == "gzip" else 15)
            body = compressor.compress(body) + compressor.flush()
            headers.append(("Content-Encoding", self._encoding))
        headers += [("Content-Length", str(len(body))), ("cache-control", "no-store")]
        if self.hooks is not None and request is not None:
            headers = apply_header_hooks(
                self.hooks, headers, request, self.session.sid if self.session else None
            )
        headers += self._get_headers
        if self._holds:
            self._held = (future, Response(200, headers, body))
        else:
            future.set_result(Response(200, headers, body))

    def hold(self) -> None:
        """Keep GET answers (see :meth:`release`) instead of sending them."""
        self._holds += 1

    def release(self) -> None:
        """End one :meth:`hold`; after the last, the kept answer goes out."""
        self._holds -= 1
        if not self._holds and self._held is not None:
            (future, response), self._held = self._held, None
            if not future.done():
                future.set_result(response)

    def send_text(
        self, text: str, compress: bool = True
    ) -> int:  # pragma: no cover - the session queues for polling
        raise NotImplementedError

    def send_binary(self, data: bytes, compress: bool = True) -> int:  # pragma: no cover
        raise NotImplementedError

    def send_prepared(self, message: PreparedMessage) -> int:  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:
        """Forget the pending GET (the session answered it first when it had to) and the
        session: it is over, or carried by a WebSocket now (no request reaches this transport
        any more), and it refers to this transport (a reference cycle otherwise)."""
        future, self._get = self._get, None
        self._get_request = None
        self.session = None
        if future is not None and not future.done():
            self._get = None
            future.set_result(Response(200, [("Content-Type", "text/plain; charset=UTF-8")], b"6"))

    def abort(self) -> None:
        """Like :meth:`close`: nothing is buffered here (the session drops its queue)."""
        self.close()


def _accepted_encoding(accept_encoding: str) -> str | None:
    """``"gzip"`` or ``"deflate"`` if the ``Accept-Encoding`` value allows one (gzip first)."""
    accepted = set()
    for item in accept_encoding.lower().split(","):
        name, _, params = item.strip().partition(";")
        if params.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000"):
            continue
        accepted.add(name.strip())
    for encoding in ("gzip", "deflate"):
        if encoding in accepted or "*" in accepted:
            return encoding
    return None
