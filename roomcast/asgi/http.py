"""The ASGI ``http`` driver: polling requests in, the engine's answers out.

What the httptools front does for a polling request, over ASGI ``receive``/``send``: the body
is read up to the engine's ``max_payload`` (past it the request is marked truncated, and the
engine answers 413), :meth:`Engine.handle_http` answers it (the same code serves both), and a
long-poll GET whose client goes away (``http.disconnect``) is cancelled, which the polling
transport reports as ``transport error``, as when the TCP connection of the front drops.
"""

from __future__ import annotations

import asyncio

from ..engine.engine import Engine
from ..engine.http import Response
from ..engine.reasons import SERVER_SHUTTING_DOWN
from .request import request_from_scope
from .types import Receive, Scope, Send

__all__ = ["encode_headers", "send_response", "serve_http"]


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool, bool]:
    """The request body, whether it passed ``limit`` (then it is empty), and whether the
    client disconnected meanwhile."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "http.disconnect":
            return b"", False, True
        if kind != "http.request":
            continue
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", True, False  # the rest is not read: the answer closes the connection
        if chunk:
            parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts), False, False


def encode_headers(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Headers as ASGI wants them: lower-case names, bytes."""
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


async def send_response(send: Send, response: Response, *, head: bool = False) -> None:
    """Send ``response`` as ``http.response.start`` and ``http.response.body``."""
    headers = encode_headers(response.headers)
    if (
        response.status >= 200
        and response.status not in (204, 304)
        and not any(name == b"content-length" for name, _ in headers)
    ):
        headers.append((b"content-length", str(len(response.body)).encode()))
    if response.close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else response.body})


async def serve_http(engine: Engine, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer one polling request (or CORS preflight) of ``engine``."""
    body, truncated, gone = await _read_body(receive, engine.options.max_payload)
    if gone:
        return
    request = request_from_scope(scope, body, truncated=truncated)
    result = engine.handle_http(request)
    if isinstance(result, Response):
        await send_response(send, result)
        return
    answer = asyncio.ensure_future(result)
    if truncated:  # the rest of the body is never read: no disconnect can be watched for
        await send_response(send, await answer)
        return
    watch = asyncio.ensure_future(_wait_disconnect(receive))
    try:
        await asyncio.wait((answer, watch), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        # The server gives up on the request (uvicorn's --timeout-graceful-shutdown): the
        # session closes as the engine closes it on shutdown, its GET answered with the close.
        session = engine.sessions.get(request.query.get("sid") or "")
        if session is not None and not answer.done():
            session.close(SERVER_SHUTTING_DOWN)
        if not answer.done() or answer.cancelled():
            answer.cancel()
            raise
        await send_response(send, answer.result())
        return
    finally:
        if not answer.done():
            answer.cancel()  # the client left: the poll is dropped (transport error)
        watch.cancel()
    if answer.cancelled():
        return
    await send_response(send, answer.result())


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
