"""The Admin UI's own page, served by the server it watches: no outside site needed.

The built UI comes from the ``@socket.io/admin-ui`` npm package,
``node_modules/@socket.io/admin-ui/ui/dist/``, looked up like the official client (see
:func:`roomcast.apps.files.client_dirs`): under the current directory, then next to the package.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..engine.http import Request, Response

if TYPE_CHECKING:
    from ..engine.listener import Listener

__all__ = ["serve_ui", "ui_dirs"]

_MISSING = (
    "The Socket.IO Admin UI is not installed on this server.\n\n"
    "roomcast serves the built UI of the @socket.io/admin-ui npm package, looked up in\n"
    "node_modules/@socket.io/admin-ui/ui/dist/ under the directory the server runs in (or\n"
    "next to the roomcast package). Install it there and restart:\n\n"
    "    npm install @socket.io/admin-ui@0.5\n"
)
# The page links a web font and an icon font on CDNs: left out, the UI falls back to local fonts.
_OUTSIDE_LINK = re.compile(rb'<link rel="stylesheet" href="https://[^"]*">')
# The connection form proposes the server the page came from.
_SAME_SERVER = (
    b"<script>localStorage.getItem('server_url')||"
    b"localStorage.setItem('server_url',location.origin)</script></head>"
)


def ui_dirs() -> list[Path]:
    """Where ``@socket.io/admin-ui/ui/dist`` is looked for: the current directory, then the
    package's."""
    package_root = Path(__file__).resolve().parent.parent.parent
    found: list[Path] = []
    for base in (Path.cwd(), package_root):
        candidate = base / "node_modules" / "@socket.io" / "admin-ui" / "ui" / "dist"
        if candidate not in found:
            found.append(candidate)
    return found


def _file(body: bytes, content_type: str) -> Callable[[Request], Response]:
    headers = [("Content-Type", content_type), ("Cache-Control", "public, max-age=0")]

    def serve(request: Request) -> Response:
        return Response(200, headers, body)

    return serve


def serve_ui(listener: Listener, path: str = "/admin/") -> bool:
    """Serve the built Admin UI at ``path`` on ``listener``; ``False`` (and a page saying how
    to install it) if the npm package is not found."""
    path = "/" + path.strip("/") + "/"
    folder = next((d for d in ui_dirs() if (d / "index.html").is_file()), None)
    if folder is None:
        missing = Response(404, [("Content-Type", "text/plain; charset=utf-8")], _MISSING.encode())
        listener.route("GET", path, lambda request: missing)
        return False
    for file in sorted(folder.rglob("*")):
        if not file.is_file():
            continue
        name = file.relative_to(folder).as_posix()
        body = file.read_bytes()
        if name == "index.html":
            body = _OUTSIDE_LINK.sub(b"", body).replace(b"</head>", _SAME_SERVER, 1)
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type.endswith("javascript"):
            content_type += "; charset=utf-8"
        handler = _file(body, content_type)
        listener.route("GET", path + name, handler)
        if name == "index.html":
            listener.route("GET", path, handler)
    redirect = Response(301, [("Location", path)])
    listener.route("GET", path.rstrip("/"), lambda request: redirect)
    return True
