"""Fixtures shared by every test package: free ports and the Node tool chain."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def port() -> int:
    """A free port on 127.0.0.1 for the server under test."""
    return free_port()


@pytest.fixture(scope="session")
def node() -> str:
    """The path of the `node` executable, with the npm packages of package.json installed."""
    path = shutil.which("node")
    if path is None or not (NODE_MODULES / "socket.io-client").is_dir():
        pytest.fail("node and `npm ci` are required (the README test command installs them)")
    return path
