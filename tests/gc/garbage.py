"""Counting the cyclic garbage a piece of work leaves: what only the collector can free.

:func:`cyclic_garbage` runs a coroutine with the collector off, after a full collection, then
collects once with ``gc.DEBUG_SAVEALL`` and returns what that collection found unreachable:
the objects that reference counting alone would never have freed. The debug flags are restored
and the saved objects released before it returns (the caller gets a :class:`Garbage` summary,
and the objects only while it holds it).
"""

from __future__ import annotations

import asyncio
import collections
import gc
import sys
from collections.abc import Awaitable, Callable, Collection
from typing import Any


class Garbage:
    """The objects of one collection, summed up by type."""

    def __init__(self, objects: list[Any]) -> None:
        self.objects = objects
        self.by_type: collections.Counter[str] = collections.Counter(
            type_name(obj) for obj in objects
        )
        self.bytes = sum(sys.getsizeof(obj) for obj in objects)

    def __len__(self) -> int:
        return len(self.objects)

    def summary(self, top: int = 25) -> str:
        """The commonest types, one a line: ``count module.Type``."""
        lines = [f"{len(self.objects)} objects, {self.bytes} bytes"]
        lines += [f"{count:6d} {name}" for name, count in self.by_type.most_common(top)]
        return "\n".join(lines)


def type_name(obj: Any) -> str:
    cls = type(obj)
    name = f"{cls.__module__}.{cls.__qualname__}"
    if cls.__name__ == "function":
        name += f" {obj.__module__}.{obj.__qualname__}"
    elif cls.__name__ == "method":
        func = obj.__func__
        name += f" {func.__module__}.{func.__qualname__}"
    elif cls.__name__ == "frame":
        name += f" {obj.f_code.co_filename.rsplit('/', 2)[-1]}:{obj.f_code.co_name}"
    elif cls.__name__ == "coroutine":
        name += f" {obj.__qualname__}"
    return name


def saved_garbage() -> list[Any]:
    """Collect everything with ``DEBUG_SAVEALL`` and return what the collection found."""
    flags = gc.get_debug()
    gc.set_debug(flags | gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        return list(gc.garbage)
    finally:
        gc.garbage.clear()
        gc.set_debug(flags)


async def cyclic_garbage(work: Callable[[], Awaitable[None]]) -> Garbage:
    """The cyclic garbage left by ``await work()`` (run with the collector disabled)."""
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        await work()
        return Garbage(saved_garbage())
    finally:
        if enabled:
            gc.enable()


async def settle(
    *idle: Callable[[], bool],
    timeout: float = 10.0,
    ignore: Collection[asyncio.Task[Any]] = (),
) -> None:
    """Wait until every ``idle()`` holds and no other task runs (but those in ``ignore``), then
    let the callbacks already scheduled run (connection_lost and the like)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    me = asyncio.current_task()
    allowed = {me, *ignore}
    while not (all(check() for check in idle) and asyncio.all_tasks() <= allowed):
        if loop.time() > deadline:
            others = [t for t in asyncio.all_tasks() if t not in allowed]
            raise TimeoutError(f"server not idle: {[c() for c in idle]}, tasks {others}")
        await asyncio.sleep(0.005)
    for _ in range(5):
        await asyncio.sleep(0)
