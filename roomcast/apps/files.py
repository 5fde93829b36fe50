"""What the chat serves over HTTP besides the official client (which every Server serves, see
:mod:`roomcast.socketio.clientfiles`): its page, script and style.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from roomcast.engine.http import Request, Response
from roomcast.socketio.clientfiles import CLIENT_FILES, ClientFiles, client_dirs

__all__ = ["CLIENT_FILES", "ClientFiles", "StaticFile", "client_dirs"]

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "application/javascript; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


def _content_type(name: str) -> str:
    return _TYPES.get(Path(name).suffix, "application/octet-stream")


@dataclass(slots=True)
class StaticFile:
    """One file of the package's ``apps/static`` folder, read once, served with a short cache."""

    name: str
    replace: dict[str, str] = field(default_factory=dict)
    _body: bytes | None = None

    def __call__(self, request: Request) -> Response:
        """Answer a GET for the file."""
        if self._body is None:
            text = (files("roomcast.apps") / "static" / self.name).read_text("utf-8")
            for old, new in self.replace.items():
                text = text.replace(old, new)
            self._body = text.encode()
        headers = [("Content-Type", _content_type(self.name)), ("Cache-Control", "no-cache")]
        return Response(200, headers, self._body)
