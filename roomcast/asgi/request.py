"""From an ASGI scope to the engine's :class:`~roomcast.engine.http.Request`, and path rules."""

from __future__ import annotations

from ..engine.http import Request, join_headers, make_request
from .types import Scope

__all__ = ["request_from_scope", "route_path"]


def route_path(scope: Scope) -> str:
    """The path below the application's mount point: ``scope["path"]`` without the leading
    ``root_path`` (a Starlette ``Mount`` prefix, uvicorn's ``--root-path``) when it starts with
    it at a segment boundary; the path itself when it does not (servers that strip it)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        rest = path[len(root) :]
        if not rest or rest[0] == "/":
            return rest or "/"
    return path


def request_from_scope(scope: Scope, body: bytes = b"", *, truncated: bool = False) -> Request:
    """The engine's view of an ``http`` or ``websocket`` request (the address and scheme as
    the ASGI server reports them: its own proxy-header settings apply)."""
    query: bytes = scope.get("query_string", b"")
    path: str = scope["path"]
    url = path + "?" + query.decode("latin-1") if query else path
    client = scope.get("client")
    return make_request(
        scope.get("method", "GET"),
        url,
        join_headers({}, scope.get("headers", ())),
        body,
        remote_address=(str(client[0]), int(client[1])) if client else None,
        secure=scope.get("scheme") in ("https", "wss"),
        truncated=truncated,
    )
