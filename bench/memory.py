"""Where an idle connection's memory goes: ``python -m bench.memory [--clients N] [--out FILE]``.

Runs the benchmark app (``bench/servers/roomcast_app.py``) in this process under tracemalloc,
connects N idle Socket.IO clients with the load generator (``bench/loadgen.js``, scenario
``idle``), and while they are connected compares a snapshot with one taken before: bytes per
connection by the module that allocated them, the deep size of each per-connection object, and
the number of objects the cyclic GC tracks per connection.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

from roomcast.socketio.server import Server

from .suite import BENCH, raise_fd_limit

# Allocation sites grouped into the parts of a connection, by file path fragment (first match).
PARTS = (
    ("websockets Sans-I/O protocol (parser, reader, headers)", ("/websockets/",)),
    ("Engine.IO session", ("roomcast/engine/session.py",)),
    ("WebSocket transport (roomcast side)", ("roomcast/engine/websocket.py",)),
    ("Socket.IO socket + handshake", ("roomcast/engine/socket.py", "roomcast/engine/handshake.py")),
    ("Socket.IO client + decoder", ("roomcast/engine/client.py", "roomcast/protocol/")),
    ("room registry + namespace", ("roomcast/rooms/", "roomcast/engine/namespace.py")),
    ("HTTP front (request, headers)", ("roomcast/engine/http.py", "roomcast/engine/listener.py")),
    ("engine (sessions dict, upgrade)", ("roomcast/engine/engine.py",)),
    ("asyncio/uvloop (transports, timers)", ("asyncio/", "uvloop", "<frozen", "selectors.py")),
)


def part_of(filename: str) -> str:
    for name, fragments in PARTS:
        if any(fragment in filename for fragment in fragments):
            return name
    return "other: " + filename.rsplit("/", 2)[-1]


def reachable(root: object, stop: set[int]) -> dict[int, int]:
    """``id -> size`` of every object reachable from ``root`` (not through ``stop`` or types,
    modules and functions)."""
    found: dict[int, int] = {}
    todo = [root]
    while todo:
        obj = todo.pop()
        key = id(obj)
        if (
            key in found
            or (key in stop and obj is not root)
            or isinstance(obj, type | type(sys) | type(len))
        ):
            continue
        if callable(obj) and hasattr(obj, "__code__"):
            continue
        found[key] = sys.getsizeof(obj)
        todo.extend(gc.get_referents(obj))
    return found


def own_size(root: object, other: object, stop: list[object]) -> int:
    """Bytes reachable from ``root`` but not from ``other`` (the same object of another
    connection): what one connection's object costs on its own."""
    ids = {id(x) for x in stop}
    mine = reachable(root, ids)
    theirs = reachable(other, ids)
    return sum(size for key, size in mine.items() if key not in theirs)


async def measure(clients: int) -> dict[str, Any]:
    io = Server()

    def join(socket: Any, room: str) -> None:
        socket.join(room)

    io.on("join", join)

    listener = await io.listen("127.0.0.1", 0)
    gc.collect()
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    objects_before = len(gc.get_objects())
    loadgen = await asyncio.create_subprocess_exec(
        "node",
        str(BENCH / "loadgen.js"),
        json.dumps({"scenario": "idle", "port": listener.port, "clients": clients, "hold": 30}),
        stdout=subprocess.PIPE,
        preexec_fn=raise_fd_limit,
    )
    nsp = io.of("/")
    while len(nsp.sockets) < clients:
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)
    gc.collect()
    after = tracemalloc.take_snapshot()
    objects_after = len(gc.get_objects())
    tracemalloc.stop()

    parts: dict[str, int] = {}
    for stat in after.compare_to(before, "filename"):
        name = part_of(stat.traceback[0].filename)
        parts[name] = parts.get(name, 0) + stat.size_diff
    first, second = list(nsp.sockets.values())[:2]

    def parts_of(socket: Any) -> dict[str, object]:
        session = socket.client.session
        ws = session.transport
        return {
            "Session": session,
            "Socket": socket,
            "Client": socket.client,
            "WebSocketTransport": ws,
            "websockets ServerProtocol": ws.protocol,
            "handshake request (headers, query)": session.request,
        }

    mine, theirs = parts_of(first), parts_of(second)
    ws: Any = mine["WebSocketTransport"]
    shared = [io, nsp, nsp.adapter, io.engine, listener, ws.loop, ws._batch, ws.on_lost]
    shared += [first.client.session.options, first.client.session._on_closed, io.engine.sessions]
    objects: dict[str, int] = {}
    for name, root in mine.items():
        # each object on its own: the other parts of the same connection are not counted in
        others = [obj for other_name, obj in mine.items() if other_name != name]
        objects[name] = own_size(root, theirs[name], [*shared, *others, *theirs.values()])
    loadgen.terminate()
    await loadgen.wait()
    await io.close()
    return {
        "clients": clients,
        "traced_per_conn": {
            k: v / clients for k, v in sorted(parts.items(), key=lambda kv: -kv[1])
        },
        "objects": objects,
        "gc_objects_per_conn": (objects_after - objects_before) / clients,
    }


def report(result: dict[str, Any]) -> str:
    n = result["clients"]
    total = sum(result["traced_per_conn"].values())
    lines = [
        f"# Memory per idle connection ({n:,} Socket.IO clients over WebSocket)",
        "",
        "Measured by `python -m bench.memory` (tracemalloc in the server process, snapshot while",
        "the clients are connected, compared with one taken before they came). The asyncio/uvloop",
        "line counts the Python objects made for a connection; libuv's own C structures and the",
        "kernel's socket buffers are not traced (see the RSS figure of `python -m bench`).",
        "",
        "| allocated by | bytes per connection |",
        "|---|---|",
    ]
    for name, size in result["traced_per_conn"].items():
        if abs(size) >= 8:
            lines.append(f"| {name} | {size:,.0f} |")
    lines.append(f"| **total traced** | **{total:,.0f}** |")
    lines += [
        "",
        "Size of one connection's objects, each with what it alone refers to (`sys.getsizeof` over",
        "the objects reachable from it and not from the same object of another connection):",
        "",
        "| object | bytes |",
        "|---|---|",
    ]
    for name, size in result["objects"].items():
        lines.append(f"| {name} | {size:,} |")
    lines += [
        "",
        f"Objects tracked by the cyclic GC per connection: {result['gc_objects_per_conn']:.0f}",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.memory", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    raise_fd_limit()
    try:  # the loop the benchmark server runs on
        import uvloop

        result = uvloop.run(measure(args.clients))
    except ImportError:
        result = asyncio.run(measure(args.clients))
    text = report(result)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
