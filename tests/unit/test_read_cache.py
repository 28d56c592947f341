"""ReadCache: freshness, stale-while-revalidate, single flight, bounds and errors (pure asyncio)."""

from __future__ import annotations

import asyncio

import pytest

from services.common.read_cache import ReadCache
from services.rewards.domain.boards import Row


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Ledger:
    """Stands in for the ledger aggregation: counts computations, can be held and can fail."""

    def __init__(self) -> None:
        self.points = 10
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.fail: Exception | None = None

    async def board(self) -> list[Row]:
        self.calls += 1
        points = self.points  # read at the start, like an aggregation reads its snapshot
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return [Row("aino", points), Row("bo", 1)]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_off_computes_every_read():
    ledger = Ledger()
    cache = ReadCache(ttl=0)
    assert not cache.enabled
    assert await cache.get("k", ledger.board) == [Row("aino", 10), Row("bo", 1)]
    ledger.points = 11
    assert await cache.get("k", ledger.board) == [Row("aino", 11), Row("bo", 1)]
    assert ledger.calls == 2


async def test_fresh_board_from_memory_then_stale_served_while_one_refresh_runs():
    clock, ledger = Clock(), Ledger()
    cache = ReadCache(ttl=5, max_stale=60, clock=clock)
    assert (await cache.get("k", ledger.board))[0].points == 10
    ledger.points = 20
    clock.now += 4.9
    assert (await cache.get("k", ledger.board))[0].points == 10  # fresh: no computation
    assert ledger.calls == 1
    clock.now += 0.2  # stale: answered at once with the old rows, one refresh in the background
    ledger.gate = asyncio.Event()
    assert (await cache.get("k", ledger.board))[0].points == 10
    assert (await cache.get("k", ledger.board))[0].points == 10
    await settle()
    assert ledger.calls == 2  # one refresh for both stale reads
    ledger.gate.set()
    await settle()
    assert (await cache.get("k", ledger.board))[0].points == 20
    assert ledger.calls == 2


async def test_board_unread_past_max_stale_is_recomputed_before_answering():
    clock, ledger = Clock(), Ledger()
    cache = ReadCache(ttl=5, max_stale=60, clock=clock)
    await cache.get("k", ledger.board)
    ledger.points = 30
    clock.now += 61
    assert (await cache.get("k", ledger.board))[0].points == 30
    assert ledger.calls == 2


async def test_concurrent_first_reads_share_one_computation_and_survive_a_cancelled_caller():
    ledger = Ledger()
    ledger.gate = asyncio.Event()
    cache = ReadCache(ttl=5)
    first = asyncio.create_task(cache.get("k", ledger.board))
    others = [asyncio.create_task(cache.get("k", ledger.board)) for _ in range(5)]
    await settle()
    first.cancel()
    await settle()
    ledger.gate.set()
    assert [(await t)[0].points for t in others] == [10] * 5
    assert ledger.calls == 1
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_keys_are_separate_and_least_recently_read_is_evicted():
    ledger = Ledger()
    cache = ReadCache(ttl=5, max_entries=2)
    await cache.get("a", ledger.board)
    await cache.get("b", ledger.board)
    await cache.get("a", ledger.board)  # a is now the most recently read
    await cache.get("c", ledger.board)  # evicts b
    assert ledger.calls == 3
    await cache.get("a", ledger.board)
    assert ledger.calls == 3
    await cache.get("b", ledger.board)
    assert ledger.calls == 4


async def test_a_failed_first_computation_reaches_the_caller_and_is_retried_next_time():
    ledger = Ledger()
    ledger.fail = RuntimeError("database away")
    cache = ReadCache(ttl=5)
    with pytest.raises(RuntimeError, match="database away"):
        await cache.get("k", ledger.board)
    ledger.fail = None
    assert (await cache.get("k", ledger.board))[0].points == 10
    assert ledger.calls == 2


async def test_a_failed_refresh_keeps_serving_the_last_board_and_tries_again():
    clock, ledger = Clock(), Ledger()
    cache = ReadCache(ttl=5, max_stale=60, clock=clock)
    await cache.get("k", ledger.board)
    clock.now += 6
    ledger.fail = RuntimeError("database away")
    assert (await cache.get("k", ledger.board))[0].points == 10
    await settle()
    ledger.fail, ledger.points = None, 40
    assert (await cache.get("k", ledger.board))[0].points == 10  # still the last good board
    await settle()
    assert (await cache.get("k", ledger.board))[0].points == 40
    assert ledger.calls == 3


async def test_a_held_refresh_replaces_the_board_when_done_and_ttl_must_not_exceed_max_stale():
    clock, ledger = Clock(), Ledger()
    cache = ReadCache(ttl=5, max_stale=60, clock=clock)
    await cache.get("k", ledger.board)  # computed at t=1000
    clock.now += 6
    ledger.gate = asyncio.Event()
    ledger.points = 50
    await cache.get("k", ledger.board)  # refresh started at t=1006, held
    await settle()
    ledger.gate.set()
    await settle()
    assert (await cache.get("k", ledger.board))[0].points == 50
    with pytest.raises(ValueError):
        ReadCache(ttl=10, max_stale=5)


async def test_a_slow_board_is_refreshed_only_ttl_after_its_computation_ended():
    clock, ledger = Clock(), Ledger()
    cache = ReadCache(ttl=5, max_stale=60, clock=clock)
    ledger.gate = asyncio.Event()
    first = asyncio.create_task(cache.get("k", ledger.board))
    await settle()
    clock.now += 20  # the scan takes 20 s
    ledger.gate.set()
    await first
    clock.now += 4  # 24 s after it started, 4 s after it ended: still fresh
    await cache.get("k", ledger.board)
    await settle()
    assert ledger.calls == 1
    clock.now += 2
    await cache.get("k", ledger.board)
    await settle()
    assert ledger.calls == 2


async def test_at_most_max_computing_boards_are_computed_at_once():
    ledger = Ledger()
    ledger.gate = asyncio.Event()
    cache = ReadCache(ttl=5, max_computing=1)
    reads = [asyncio.create_task(cache.get(k, ledger.board)) for k in "abc"]
    await settle()
    assert ledger.calls == 1
    ledger.gate.set()
    await asyncio.gather(*reads)
    assert ledger.calls == 3
