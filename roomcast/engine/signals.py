"""Signals during a graceful shutdown: a second Ctrl-C stops waiting."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine
from typing import Any

__all__ = ["INTERRUPTED", "close_interruptibly"]

logger = logging.getLogger("roomcast")

INTERRUPTED = 130
"""The exit status after a second SIGINT cut a shutdown short (128 + SIGINT, as a shell's)."""


async def close_interruptibly(closing: Coroutine[Any, Any, Any]) -> bool:
    """Run the graceful shutdown ``closing``; return ``False`` if a SIGINT (a second Ctrl-C)
    cut it short, ``True`` once it finished.

    Meanwhile SIGTERM is ignored: the shutdown it would ask for is already under way (and a
    supervisor's SIGTERM after the terminal's Ctrl-C must not cut a worker's shutdown short).
    """
    loop = asyncio.get_running_loop()
    task = loop.create_task(closing)
    interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        if not interrupted:
            interrupted = True
            logger.warning("interrupted again: stopping without waiting")
            task.cancel()

    handled = []
    for signum, handler in ((signal.SIGINT, interrupt), (signal.SIGTERM, lambda: None)):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows, other thread
            loop.add_signal_handler(signum, handler)
            handled.append(signum)
    try:
        await task
    except asyncio.CancelledError:
        if not interrupted:
            raise
        return False
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
    return True
