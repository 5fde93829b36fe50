"""Reliability test kit: Node's many-clients script, server-state checks, memory readings."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from roomcast.rooms.memory import MemoryAdapter
from roomcast.socketio.server import Server
from tests.chat import conftest as chat
from tests.conftest import ROOT
from tests.waiting import until

# the chat tests' fixtures: RSA key pairs and python-socketio chat clients
rsa_pair = chat.rsa_pair
other_rsa_pair = chat.other_rsa_pair
clients = chat.clients

WAIT = 10.0
"""Seconds any single wait may take before the test fails."""
CLIENTS_JS = str(ROOT / "tests" / "node" / "reliability_clients.js")


def leftovers(io: Server) -> dict[str, Any]:
    """What the server still holds for clients: empty once every client has left."""
    held: dict[str, Any] = {}
    if io.engine.sessions:
        held["sessions"] = list(io.engine.sessions)
    if io.engine._websockets:
        held["websockets"] = len(io.engine._websockets)
    for name, nsp in io.namespaces.items():
        if nsp.sockets:
            held[f"{name} sockets"] = list(nsp.sockets)
        for socket in nsp.sockets.values():
            if socket._acks is not None and len(socket._acks):
                held[f"{name} acks of {socket.id}"] = len(socket._acks)
        adapter = nsp.adapter
        if isinstance(adapter, MemoryAdapter) and (adapter.registry.rooms or adapter.registry.sids):
            held[f"{name} rooms"] = sorted(adapter.registry.rooms)
    return held


async def no_leftovers(io: Server) -> None:
    """Wait until the server holds nothing for any client (the last TCP closes may lag)."""
    try:
        await until(lambda: not leftovers(io))
    except TimeoutError:
        raise AssertionError(f"left behind: {leftovers(io)}") from None


def rss() -> int:
    """This process's resident set size, in bytes."""
    return _status_kib("VmRSS") * 1024


def reset_peak_rss() -> None:
    """Start measuring the peak RSS (``VmHWM``) from now (Linux ``clear_refs`` 5)."""
    with open("/proc/self/clear_refs", "w") as file:
        file.write("5")


def peak_rss() -> int:
    """The peak RSS since :func:`reset_peak_rss`, in bytes."""
    return _status_kib("VmHWM") * 1024


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as file:
        for line in file:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


class NodeClients:
    """tests/node/reliability_clients.js running with ``options``; reads its JSON lines."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, node: str, **options: Any) -> NodeClients:
        process = await asyncio.create_subprocess_exec(
            node,
            CLIENTS_JS,
            json.dumps(options),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def line(self, timeout: float = WAIT) -> str:
        """The next line the script prints."""
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not line:
            assert self.process.stderr is not None
            raise AssertionError((await self.process.stderr.read()).decode()[-2000:])
        return line.decode().strip()

    async def result(self, timeout: float = WAIT) -> Any:
        """The next JSON line."""
        return json.loads(await self.line(timeout))

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
