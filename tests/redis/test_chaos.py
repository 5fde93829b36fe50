"""Chaos: the redis-server process restarted under load between two serving roomcast servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.conftest import free_port

from .chaos import ChaosResult, run_chaos, summary
from .conftest import RedisServer


@pytest.fixture
async def own_redis() -> AsyncIterator[RedisServer]:
    """A redis-server of this test's own (it gets restarted)."""
    server = RedisServer(free_port())
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


async def test_a_redis_restart_under_load_loses_and_duplicates_nothing(
    own_redis: RedisServer,
) -> None:
    # 24 clients in 4 rooms over two servers; each server emits 50 messages a second, 40 of
    # them while Redis is down.
    result = await run_chaos(
        own_redis, clients=24, rooms=4, rate=50, before=20, during=40, after=20, quiet_stop=True
    )
    figures = summary(result)
    assert result.duplicates == 0, figures
    assert result.out_of_order == 0, figures
    assert result.dropped == {"a": 0, "b": 0}, figures  # the queue never filled
    assert_lost_only_what_was_on_the_wire(result, figures)


async def test_the_backlog_waits_for_a_server_that_comes_back_later(
    own_redis: RedisServer,
) -> None:
    # b reaches Redis again only 20 emits (0.4 s) after a: a's backlog must wait for it.
    result = await run_chaos(
        own_redis,
        clients=24,
        rooms=4,
        rate=50,
        before=20,
        during=40,
        after=60,
        late=20,
        quiet_stop=True,
    )
    figures = summary(result)
    assert result.duplicates == 0, figures
    assert result.out_of_order == 0, figures
    assert_lost_only_what_was_on_the_wire(result, figures)


def assert_lost_only_what_was_on_the_wire(result: ChaosResult, figures: object) -> None:
    """Redis is stopped once nothing is queued, but the emits go on while it stops: a batch
    written as it goes may be lost (at most once, by design), and the link counts it as
    unconfirmed. Nothing else is lost: every message missing at a client is one of those."""
    for name, missing in result.lost_messages.items():
        assert len(missing) <= result.unconfirmed[name], figures
