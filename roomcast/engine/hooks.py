"""The rules Node's engine.io applies around each request, as functions any HTTP driver calls:
the middleware chain (``engine.use``), the session cookie (``cookie``) and the answer header
hooks (``initial_headers``, ``headers``).

Both the httptools front (:class:`~roomcast.engine.engine.Engine` on a
:class:`~roomcast.engine.listener.Listener`) and other drivers (ASGI) call these, so that a
request gets the same answer whichever driver serves it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from .http import Request, Response

__all__ = [
    "AnswerHooks",
    "CookieOptions",
    "HeaderHook",
    "Headers",
    "Middleware",
    "MiddlewareResult",
    "apply_header_hooks",
    "run_middlewares",
    "session_cookie",
]

logger = logging.getLogger("roomcast.engine")

Headers = list[tuple[str, str]]

Middleware = Callable[[Request], "Response | Awaitable[Response | None] | None"]
"""``middleware(request)``, sync or async: ``None`` lets the request go on, a
:class:`~roomcast.engine.http.Response` refuses it with that answer. It may annotate the request
(``request.state``); raising refuses with Engine.IO's ``Bad request`` error (HTTP 400)."""

HeaderHook = Callable[[dict[str, str | list[str]], Request], Any]
"""``hook(headers, request)``: change the answer's headers in place (a list value is sent as
repeated header lines). Node's ``initial_headers`` / ``headers`` events."""

MiddlewareResult = Response | Exception | None
"""What the chain decided: go on (``None``), the refusal a middleware returned, or the exception
one raised (answered with ``Bad request``)."""


@dataclass(frozen=True, slots=True)
class CookieOptions:
    """The cookie set on a polling handshake's answer, carrying the session id (Node's ``cookie``
    option, with its defaults): load balancers can stick a client to one server on it."""

    name: str = "io"
    path: str | None = "/"
    http_only: bool = True
    same_site: Literal["lax", "strict", "none"] | None = "lax"
    secure: bool = False
    max_age: int | None = None
    """Seconds; ``None``: a session cookie."""
    domain: str | None = None


def session_cookie(cookie: CookieOptions, sid: str) -> str:
    """The ``Set-Cookie`` value for session ``sid``, attributes in the order of Node's ``cookie``
    package."""
    parts = [f"{cookie.name}={quote(sid, safe='')}"]
    if cookie.max_age is not None:
        parts.append(f"Max-Age={int(cookie.max_age)}")
    if cookie.domain:
        parts.append(f"Domain={cookie.domain}")
    if cookie.path:
        parts.append(f"Path={cookie.path}")
    if cookie.http_only:
        parts.append("HttpOnly")
    if cookie.secure:
        parts.append("Secure")
    if cookie.same_site:
        parts.append(f"SameSite={cookie.same_site.capitalize()}")
    return "; ".join(parts)


def run_middlewares(
    middlewares: Sequence[Middleware], request: Request
) -> MiddlewareResult | Awaitable[MiddlewareResult]:
    """Run ``middlewares`` on ``request`` in order until one refuses; synchronously while they
    are synchronous, as a coroutine from the first one that returns an awaitable."""
    for index, middleware in enumerate(middlewares):
        try:
            result = middleware(request)
        except Exception as exc:
            logger.info("middleware %r failed", middleware, exc_info=True)
            return exc
        if inspect.isawaitable(result):
            return _finish_async(result, middlewares, index + 1, request)
        if result is not None:
            return result
    return None


async def _finish_async(
    pending: Awaitable[Response | None],
    middlewares: Sequence[Middleware],
    start: int,
    request: Request,
) -> MiddlewareResult:
    try:
        result = await pending
        if result is not None:
            return result
        for middleware in middlewares[start:]:
            returned = middleware(request)
            if inspect.isawaitable(returned):
                returned = await returned
            if returned is not None:
                return returned
    except Exception as exc:
        logger.info("middleware failed", exc_info=True)
        return exc
    return None


@dataclass(frozen=True, slots=True)
class AnswerHooks:
    """The options that change answers' headers; an engine has one only when one is set, so
    that answers without hooks cost a single ``None`` check."""

    cookie: CookieOptions | None = None
    initial_headers: HeaderHook | None = None
    headers: HeaderHook | None = None


def apply_header_hooks(
    hooks: AnswerHooks, headers: Headers, request: Request, sid: str | None
) -> Headers:
    """``headers`` after Node's rules for an answer to ``request``: on a handshake (``request``
    without a ``sid`` in its query) the session cookie (when ``sid`` is given: a polling
    handshake) then ``initial_headers``; on every answer then ``headers``. A hook that raises
    is logged and its changes so far kept."""
    handshake = not request.query.get("sid")
    if not handshake and hooks.headers is None:
        return headers
    values: dict[str, str | list[str]] = {}
    for name, value in headers:
        previous = values.get(name)
        if previous is None:
            values[name] = value
        elif isinstance(previous, list):
            previous.append(value)
        else:
            values[name] = [previous, value]
    if handshake:
        if hooks.cookie is not None and sid:
            values["Set-Cookie"] = session_cookie(hooks.cookie, sid)
        if hooks.initial_headers is not None:
            _run_hook(hooks.initial_headers, values, request)
    if hooks.headers is not None:
        _run_hook(hooks.headers, values, request)
    result: Headers = []
    for name, values_of_name in values.items():
        if isinstance(values_of_name, list):
            result += [(name, str(item)) for item in values_of_name]
        else:
            result.append((name, str(values_of_name)))
    return result


def _run_hook(hook: HeaderHook, values: dict[str, str | list[str]], request: Request) -> None:
    try:
        hook(values, request)
    except Exception:
        logger.exception("error in header hook %r", hook)
