"""CORS for the Engine.IO endpoints: the headers Node's ``cors`` package sends likewise."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .http import Request, Response

__all__ = ["CorsOptions", "cors_headers", "preflight"]

Origins = str | bool | Sequence[str | re.Pattern[str]] | Callable[[str | None], bool]


@dataclass
class CorsOptions:
    r"""Cross-origin settings (Node ``cors`` names: origin, methods, allowedHeaders, ...).

    ``origins``: ``"*"`` (any), one fixed origin, a list of origins (str or compiled regex), a
    callable ``(origin) -> bool``, ``True`` (reflect the request's origin) or ``False`` (no header).
    An empty list, tuple or string allows no origin. A regex is *searched* in the origin, as Node
    does: anchor it, ``re.compile(r"^https://([a-z0-9-]+\.)?example\.com(:\d+)?$")``, or
    ``example\.com`` also matches ``https://example.com.evil.test``. ``allowed_headers=None``
    reflects ``Access-Control-Request-Headers`` in a preflight.
    """

    origins: Origins = "*"
    methods: Sequence[str] = ("GET", "HEAD", "PUT", "PATCH", "POST", "DELETE")
    allowed_headers: Sequence[str] | None = None
    exposed_headers: Sequence[str] | None = None
    credentials: bool = False
    max_age: int | None = None
    preflight_status: int = 204


def _allowed(origin: str | None, allowed: Origins) -> bool:
    if callable(allowed):
        return bool(allowed(origin))
    if isinstance(allowed, bool):
        return allowed
    if isinstance(allowed, str):
        return origin == allowed
    for item in allowed:
        if isinstance(item, str):
            if origin == item:
                return True
        elif origin is not None and item.search(origin):
            return True
    return False


def cors_headers(
    options: CorsOptions, request: Request, *, preflight: bool = False
) -> list[tuple[str, str]]:
    """The CORS response headers for ``request`` (a preflight when ``preflight`` is true)."""
    headers: list[tuple[str, str]] = []
    vary: list[str] = []
    origin = request.headers.get("origin")
    allowed = options.origins
    if allowed == "*":
        headers.append(("Access-Control-Allow-Origin", "*"))
    elif allowed is False:
        pass
    elif isinstance(allowed, str) and allowed:
        headers.append(("Access-Control-Allow-Origin", allowed))
        vary.append("Origin")
    else:
        if _allowed(origin, allowed) and origin:
            headers.append(("Access-Control-Allow-Origin", origin))
        vary.append("Origin")
    if options.credentials:
        headers.append(("Access-Control-Allow-Credentials", "true"))
    if preflight:
        headers.append(("Access-Control-Allow-Methods", ",".join(options.methods)))
        if options.allowed_headers is None:
            requested = request.headers.get("access-control-request-headers", "")
            vary.append("Access-Control-Request-Headers")
        else:
            requested = ",".join(options.allowed_headers)
        if requested:
            headers.append(("Access-Control-Allow-Headers", requested))
        if options.max_age is not None:
            headers.append(("Access-Control-Max-Age", str(options.max_age)))
    if options.exposed_headers:
        headers.append(("Access-Control-Expose-Headers", ",".join(options.exposed_headers)))
    if vary:
        headers.append(("Vary", ", ".join(vary)))
    return headers


def preflight(options: CorsOptions, request: Request) -> Response:
    """The answer to an ``OPTIONS`` preflight request."""
    headers = cors_headers(options, request, preflight=True)
    headers.append(("Content-Length", "0"))
    return Response(options.preflight_status, headers, b"")
