"""How a server process runs: its event loop and its garbage collector policy.

Used by ``roomcast serve`` and :meth:`roomcast.Server.run`; an application that runs its own
loop (under an ASGI server, or ``asyncio.run`` of its own) keeps its own choices.

The event loop: uvloop when it is installed (the ``fast`` extra), else asyncio's. The GC
policy: once the server listens, everything allocated so far (modules, the app, its
handlers) is moved out of the collector's sight with :func:`gc.freeze`, so that no collection
walks it again, and the oldest generation is collected at most once every
:data:`GC_FULL_EVERY` collections of the middle one (Python: 10). A full collection walks
every live object: with 10,000 WebSocket clients arriving it ran six times and took about a
sixth of the server's CPU, to free nothing, since a closed connection leaves no reference
cycle (``tests/gc``). Spaced out, it cut server CPU per handshake by 24 % (plain) and 16 %
(the chat, JWT checked), interleaved pairs in bench/results/levers.md; in the soak the RSS
stays flat from round to round (62 MiB). What it delays is the freeing of cyclic garbage old
enough to have reached that generation; Python's other rule, that a full collection waits
until the old generation has grown by a quarter, still applies.

Raising the youngest generation's threshold (``threshold``: every N allocations instead of
700) is offered, not done by default: with full collections spaced out it gained nothing more
in those pairs, and each young collection then walks up to N objects at once.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["GC_FULL_EVERY", "GC_THRESHOLD", "LOOPS", "loop_factory", "run", "tune_gc"]

logger = logging.getLogger("roomcast")

T = TypeVar("T")

LOOPS = ("auto", "asyncio", "uvloop")
"""The names :func:`run` takes: ``auto`` is uvloop when it can be imported, else asyncio."""

GC_THRESHOLD: int | None = None
"""Allocations between two collections of the youngest generation by default: ``None`` keeps
Python's (700)."""

GC_FULL_EVERY = 100
"""Collections of the middle generation before the oldest is collected again, at least
(Python's is 10)."""


def loop_factory(name: str = "auto") -> tuple[Callable[[], asyncio.AbstractEventLoop], str]:
    """The event loop factory for ``name`` (one of :data:`LOOPS`) and the loop's name.

    Raises :class:`ValueError` for an unknown name and :class:`ImportError` when ``uvloop``
    is asked for and not installed."""
    if name not in LOOPS:
        raise ValueError(f"unknown event loop {name!r}: choose one of {', '.join(LOOPS)}")
    if name != "asyncio":
        try:
            import uvloop
        except ImportError:
            if name == "uvloop":
                raise
        else:
            return uvloop.new_event_loop, f"uvloop {getattr(uvloop, '__version__', '')}".strip()
    return asyncio.new_event_loop, "asyncio"


def run(main: Coroutine[Any, Any, T], loop: str = "auto") -> T:
    """Run ``main`` to completion on a new event loop of the kind ``loop`` (see
    :func:`loop_factory`); log which one."""
    factory, name = loop_factory(loop)
    logger.info("event loop: %s", name)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def tune_gc(threshold: int | None = GC_THRESHOLD, full_every: int | None = GC_FULL_EVERY) -> None:
    """Freeze what exists now; with ``threshold``, collect the youngest generation every
    ``threshold`` allocations, and with ``full_every``, the oldest at most once every
    ``full_every`` collections of the middle one (``None``: Python's). Call it once the server
    is set up and listening."""
    gc.collect()
    gc.freeze()
    first, second, third = gc.get_threshold()
    gc.set_threshold(
        first if threshold is None else threshold,
        second,
        third if full_every is None else full_every,
    )
    logger.debug("gc: %d objects frozen, threshold %s", gc.get_freeze_count(), gc.get_threshold())
