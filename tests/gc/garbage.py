"""Counting the cyclic garbage a piece of work leaves: what only the collector can free.

:func:`cyclic_garbage` runs a coroutine with the collector off, after a full collection, then
collects once with ``gc.DEBUG_SAVEALL`` and returns what that collection found unreachable:
the objects that reference counting alone would never have freed. The debug flags are restored
and the saved objects released before it returns (the caller gets a :class:`Garbage` summary,
and the objects only while it holds it).

``DEBUG_SAVEALL`` alone misses one kind of cycle: one through a suspended generator. The
collector first runs the finalizers of what it found unreachable; a generator's finalizer
closes it, which breaks the cycle, and reference counting frees the rest before anything is
saved. So the tracked objects are also counted by type before and after the collection:
what the collection freed that way is what the second count lacks (:attr:`Garbage.freed`).
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

    def __init__(self, objects: list[Any], freed: collections.Counter[str] | None = None) -> None:
        self.objects = objects
        self.by_type: collections.Counter[str] = collections.Counter(
            type_name(obj) for obj in objects
        )
        self.bytes = sum(sys.getsizeof(obj) for obj in objects)
        self.freed: collections.Counter[str] = freed or collections.Counter()
        """Objects the collection freed without saving them (cycles a generator's finalizer
        broke), by type."""

    def __len__(self) -> int:
        return len(self.objects) + sum(self.freed.values())

    def summary(self, top: int = 25) -> str:
        """The commonest types, one a line: ``count module.Type``."""
        lines = [f"{len(self.objects)} objects, {self.bytes} bytes"]
        lines += [f"{count:6d} {name}" for name, count in self.by_type.most_common(top)]
        if self.freed:
            lines.append(f"and {sum(self.freed.values())} freed by finalizers:")
            lines += [f"{count:6d} {name}" for name, count in self.freed.most_common(top)]
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


UNTRACKED_BY_COLLECTION = ("builtins.tuple", "builtins.dict")


def tracked_types() -> collections.Counter[str]:
    """The objects the collector tracks, counted by type."""
    return collections.Counter(type_name(obj) for obj in gc.get_objects())


def saved_garbage() -> Garbage:
    """Collect everything with ``DEBUG_SAVEALL`` and return what the collection found, and
    what it freed without saving it."""
    flags = gc.get_debug()
    before = tracked_types()
    gc.set_debug(flags | gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        # The saved objects are still tracked: only what was freed is missing from the count,
        # and the tuples and dicts that the collection stops tracking (those holding only
        # atomic values), alive still: they are left out.
        freed = before - tracked_types()
        for name in UNTRACKED_BY_COLLECTION:
            freed.pop(name, None)
        return Garbage(list(gc.garbage), freed)
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
        return saved_garbage()
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
