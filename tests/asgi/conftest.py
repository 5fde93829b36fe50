"""ASGI servers (uvicorn, hypercorn) run as real processes on tests/asgi/fastapi_app.py."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT, free_port
from tests.socketio.conftest import clients, kind  # noqa: F401 - fixtures used here

START = 30.0
"""Seconds for a cold interpreter to import FastAPI and roomcast and listen (2 loaded cores)."""
WAIT = 10.0

READY = {"uvicorn": "Uvicorn running on", "hypercorn": "Running on"}


class AsgiServer:
    """``python -m uvicorn|hypercorn tests.asgi.fastapi_app:app`` on a free port; its output
    lines are collected (stdout: the app's life-cycle lines; stderr: the server's log)."""

    def __init__(
        self,
        server: str,
        layout: str,
        *extra: str,
        env: dict[str, str] | None = None,
        target: str = "tests.asgi.fastapi_app:app",
    ) -> None:
        self.server = server
        self.layout = layout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.path = "/ws/socket.io/" if layout == "mount" else None
        """The Engine.IO path clients connect to (``None``: the default)."""
        if server == "uvicorn":
            args = ["-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(self.port)]
        else:
            args = ["-m", "hypercorn", target, "--bind", f"127.0.0.1:{self.port}"]
        self.lines: list[str] = []
        self.log: list[str] = []
        self._changed = threading.Condition()
        self.process = subprocess.Popen(
            [sys.executable, *args, *extra],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # a group of its own: stop() ends hypercorn's worker too
            env={
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "ROOMCAST_ASGI_LAYOUT": layout,
                **(env or {}),
            },
        )
        for stream, sink in ((self.process.stdout, self.lines), (self.process.stderr, self.log)):
            threading.Thread(target=self._collect, args=(stream, sink), daemon=True).start()
        try:
            self.wait_for(READY[server], START, log=True)
        except TimeoutError:
            self.stop()
            raise

    def _collect(self, stream: object, sink: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self._changed:
                sink.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = WAIT, *, log: bool = False) -> str:
        """The first collected line matching ``pattern`` (stdout, or the server's log)."""
        regex = re.compile(pattern)
        sink = self.log if log else self.lines

        def found() -> str | None:
            return next((line for line in sink if regex.search(line)), None)

        with self._changed:
            if not self._changed.wait_for(
                lambda: found() is not None or self.process.poll() is not None, timeout
            ):
                raise TimeoutError(f"no line matching {pattern!r}: {sink}")
            line = found()
        if line is None:
            raise TimeoutError(f"process ended without {pattern!r}: {self.lines} {self.log}")
        return line

    def stop(self) -> int:
        """Kill the process and what it started (hypercorn serves from a child process), if
        still running; the process's exit status."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.wait()


@pytest.fixture(scope="module", params=[("uvicorn", "mount"), ("hypercorn", "mount")], ids=str)
def asgi(request: pytest.FixtureRequest) -> Iterator[AsgiServer]:
    """FastAPI with roomcast mounted on /ws, served by uvicorn or hypercorn (shared by a
    module's tests)."""
    server = AsgiServer(*request.param)
    try:
        yield server
    finally:
        server.stop()
