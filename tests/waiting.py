"""Waiting on a condition without sleeping blindly: the one helper every test package uses."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

WAIT = 10.0
"""Seconds before a wait gives up: long enough for a loaded 2-core machine, short for a hang."""


async def until(predicate: Callable[[], object], timeout: float = WAIT) -> None:
    """Let the event loop run until ``predicate()`` holds; ``TimeoutError`` after ``timeout``.

    For server-side state that has no event of its own to wait on (a table emptied, a poll
    parked): the condition is checked between short turns of the loop.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.002)


async def until_async(
    fetch: Callable[[], Awaitable[Any]], check: Callable[[Any], object], timeout: float = WAIT
) -> Any:
    """Like :func:`until` for a condition that must be fetched: ``check(await fetch())``;
    returns the value that passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check(value := await fetch()):
        if loop.time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.01)
    return value


async def end_process(proc: asyncio.subprocess.Process, timeout: float = WAIT) -> None:
    """End a Node helper that stops when its stdin closes; kill it if it has not within
    ``timeout``."""
    if proc.returncode is not None:
        return
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
