"""The official JavaScript client, served by every Server under its path as Node's ``serveClient``
does: ``GET /socket.io/socket.io.js`` (and the min, ESM and msgpack builds with their maps).

The files come from the ``socket.io-client`` npm package: ``node_modules/socket.io-client/dist/``
in the current directory or next to the roomcast package (``npm install socket.io-client``).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ..engine.http import Request, Response

__all__ = ["CLIENT_FILES", "ClientFiles", "client_dirs", "route_client_files"]

#: The files of ``socket.io-client/dist`` that are served, as Node's server does.
CLIENT_FILES = (
    "socket.io.js",
    "socket.io.js.map",
    "socket.io.min.js",
    "socket.io.min.js.map",
    "socket.io.esm.min.js",
    "socket.io.esm.min.js.map",
    "socket.io.msgpack.min.js",
    "socket.io.msgpack.min.js.map",
)

_MISSING_CLIENT = (
    "socket.io.js is not installed on this server.\n\n"
    "roomcast serves the official JavaScript client from the socket.io-client npm package,\n"
    "looked up in node_modules/socket.io-client/dist/ under the directory the server runs in\n"
    "(or next to the roomcast package). Install it there and reload:\n\n"
    "    npm install socket.io-client@4\n"
)


def _content_type(name: str) -> str:
    if name.endswith(".js"):
        return "application/javascript; charset=utf-8"
    return "application/json; charset=utf-8"  # the source maps


def client_dirs() -> list[Path]:
    """Where ``socket.io-client/dist`` is looked for: the current directory, then the package's."""
    package_root = Path(__file__).resolve().parent.parent.parent
    found = []
    for base in (Path.cwd(), package_root):
        candidate = base / "node_modules" / "socket.io-client" / "dist"
        if candidate not in found:
            found.append(candidate)
    return found


class ClientFiles:
    """Serves the official client's files, with its version as ``ETag`` (304 on a match)."""

    __slots__ = ("_cache", "_locate")

    def __init__(self, locate: Callable[[], list[Path]] = client_dirs) -> None:
        self._locate = locate
        self._cache: dict[str, tuple[bytes, bytes, str]] = {}

    def handler(self, name: str) -> Callable[[Request], Response]:
        """A route handler for one of :data:`CLIENT_FILES`."""

        def serve(request: Request) -> Response:
            return self.serve(name, request)

        return serve

    def serve(self, name: str, request: Request) -> Response:
        """Answer a GET for ``name``: the file (gzipped if accepted), a 304, or a 404 saying why."""
        found = self._cache.get(name) or self._load(name)
        if found is None:
            headers = [("Content-Type", "text/plain; charset=utf-8")]
            return Response(404, headers, _MISSING_CLIENT.encode())
        body, gzipped, etag = found
        if request.headers.get("if-none-match") in (etag, "W/" + etag):
            return Response(304)
        headers = [
            ("Cache-Control", "public, max-age=0"),
            ("Content-Type", _content_type(name)),
            ("ETag", etag),
        ]
        if "gzip" in request.headers.get("accept-encoding", ""):
            return Response(200, [*headers, ("Content-Encoding", "gzip")], gzipped)
        return Response(200, headers, body)

    def _load(self, name: str) -> tuple[bytes, bytes, str] | None:
        for folder in self._locate():
            path = folder / name
            if path.is_file():
                try:
                    meta = json.loads((folder.parent / "package.json").read_text("utf-8"))
                    version = str(meta["version"])
                except (OSError, ValueError, KeyError):
                    version = str(int(path.stat().st_mtime))
                body = path.read_bytes()
                self._cache[name] = (body, gzip.compress(body), f'"{version}"')
                return self._cache[name]
        return None


class Router(Protocol):
    """What :func:`route_client_files` needs of a listener."""

    def route(self, method: str, path: str, handler: Callable[[Request], Response]) -> None: ...


def route_client_files(listener: Router, path: str) -> None:
    """Serve :data:`CLIENT_FILES` under the engine ``path`` of ``listener`` (a 404 that says how
    to install the client while it is missing)."""
    base = "/" + path.strip("/") + "/" if path.strip("/") else "/"
    client = ClientFiles()
    for name in CLIENT_FILES:
        listener.route("GET", base + name, client.handler(name))
