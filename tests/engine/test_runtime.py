"""The process policy of `roomcast serve` and `Server.run`: event loop and garbage collector."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest
import uvloop

from roomcast.runtime import GC_FULL_EVERY, GC_THRESHOLD, loop_factory, run, tune_gc


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_auto_is_uvloop_when_installed_and_asyncio_when_asked() -> None:
    factory, name = loop_factory("auto")
    assert factory is uvloop.new_event_loop and name.startswith("uvloop")
    assert loop_factory("asyncio") == (asyncio.new_event_loop, "asyncio")


def test_an_unknown_loop_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown event loop 'trio'"):
        loop_factory("trio")


@pytest.mark.parametrize(
    ("name", "kind"), [("asyncio", asyncio.BaseEventLoop), ("uvloop", uvloop.Loop)]
)
def test_run_runs_on_the_loop_asked_for(name: str, kind: type) -> None:
    async def main() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    assert isinstance(run(main(), name), kind)


def test_tune_gc_freezes_what_exists_and_spaces_out_full_collections(restore_gc: None) -> None:
    first, second, _ = gc.get_threshold()
    assert GC_THRESHOLD is None  # raising it is opt-in: memory grew in a soak with it
    assert GC_FULL_EVERY == 100
    tune_gc()
    assert gc.get_threshold() == (first, second, 100)
    assert gc.get_freeze_count() > 0


def test_tune_gc_with_a_threshold_raises_the_young_one_only(restore_gc: None) -> None:
    second, third = gc.get_threshold()[1:]
    tune_gc(50_000, None)
    assert gc.get_threshold() == (50_000, second, third)
    assert gc.get_freeze_count() > 0


def test_tune_gc_without_full_every_keeps_pythons_old_generation_threshold(
    restore_gc: None,
) -> None:
    before = gc.get_threshold()
    tune_gc(None, None)
    assert gc.get_threshold() == before
