"""``roomcast serve --workers N``: a supervisor running N worker processes on one port.

The supervisor reserves the port (a bound ``SO_REUSEPORT`` socket that never listens, so
``--port 0`` gives every worker the same port), starts ``python -m roomcast serve ...
--worker-index I --worker-dir DIR`` N times, relays their output, prints one "listening" line
once every worker listens, and on SIGINT/SIGTERM stops them all (SIGTERM, then SIGKILL after a
deadline). If a worker dies, the others are stopped too and the exit status is 1. Workers share
rooms through the Redis adapter and keep polling sessions on their owner through
:class:`~roomcast.cluster.forward.ForwardingListener` (unix sockets in ``DIR``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from ..engine.signals import INTERRUPTED, close_interruptibly

__all__ = ["LISTENING", "socket_path", "supervise"]

logger = logging.getLogger("roomcast")

LISTENING = "roomcast listening on "
"""How a serving process announces its URL on stdout (the first word after it is the URL)."""


def socket_path(directory: str, index: int) -> str:
    """The unix socket of worker ``index`` in the supervisor's ``directory``."""
    return str(Path(directory) / f"worker-{index}.sock")


async def supervise(
    count: int,
    worker_args: Callable[[int, str], Sequence[str]],
    *,
    env: dict[str, str] | None = None,
    on_ready: Callable[[str], None] = lambda url: None,
    stop_timeout: float = 15.0,
) -> int:
    """Run ``count`` workers (``python -m roomcast *worker_args(index, directory)``) until
    SIGINT/SIGTERM or until one exits; return the exit status. ``on_ready(url)`` is called once
    all listen."""
    directory = tempfile.mkdtemp(prefix="roomcast-")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    workers: list[asyncio.subprocess.Process] = []
    try:
        for index in range(count):
            workers.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "roomcast",
                    *worker_args(index, directory),
                    stdout=asyncio.subprocess.PIPE,
                    env={**os.environ, **(env or {})},
                )
            )
        urls: list[asyncio.Future[str]] = [loop.create_future() for _ in workers]
        relays = [
            loop.create_task(_relay(index, worker, urls[index]))
            for index, worker in enumerate(workers)
        ]
        exits = [loop.create_task(worker.wait()) for worker in workers]
        stopping = loop.create_task(stop.wait())
        ready = loop.create_task(asyncio.wait(urls))
        done, _ = await asyncio.wait([ready, stopping, *exits], return_when="FIRST_COMPLETED")
        if ready in done:
            on_ready(urls[0].result())
            done, _ = await asyncio.wait([stopping, *exits], return_when="FIRST_COMPLETED")
        failed = not stop.is_set()
        if failed:
            for index, worker in enumerate(workers):
                if worker.returncode is not None:
                    logger.error("worker %d exited with status %s", index, worker.returncode)
        if not await close_interruptibly(_stop(workers, stop_timeout)):
            return INTERRUPTED  # a second Ctrl-C: the workers are killed below
        for task in (stopping, ready, *relays):
            task.cancel()
        return 1 if failed else 0
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(signum)
        shutil.rmtree(directory, ignore_errors=True)


async def _relay(index: int, worker: asyncio.subprocess.Process, url: asyncio.Future[str]) -> None:
    """Copy a worker's stdout to ours; its first "listening" line resolves ``url`` instead."""
    assert worker.stdout is not None
    async for raw in worker.stdout:
        line = raw.decode(errors="replace").rstrip("\n")
        if not url.done() and line.startswith(LISTENING):
            url.set_result(line[len(LISTENING) :].split()[0])
            continue
        print(f"[worker {index}] {line}", flush=True)


async def _stop(workers: list[asyncio.subprocess.Process], timeout: float) -> None:
    for worker in workers:
        if worker.returncode is None:
            worker.send_signal(signal.SIGTERM)
    waiting = [asyncio.ensure_future(worker.wait()) for worker in workers]
    _, late = await asyncio.wait(waiting, timeout=timeout)
    for worker in workers:
        if worker.returncode is None:
            logger.warning("worker %d did not stop in %.0f s: killed", worker.pid, timeout)
            worker.kill()
    for task in late:
        await task
