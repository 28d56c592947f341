"""Ranked leaderboards kept per query for a few seconds: a read no longer costs a ledger scan.

A board is summed from the ledger (the source of truth) by one aggregation over the entries of its
period. FerretDB's SQLite backend evaluates every filter other than `{_id: v}` by scanning the
collection, so that aggregation grows with the ledger: seconds at a few hundred thousand entries.
Boards are eventually consistent anyway (the pipeline's delay), so each replica keeps the top rows
of every board it was asked for and recomputes it in the background once it is `ttl` seconds old:

- a fresh board is answered from memory; a board computed more than `ttl` ago (counted from the
  end of its computation, so one board's scans never run back to back however long they take) is
  still answered at once, and ONE background computation replaces it (stale-while-revalidate), so
  a reader waits for a ledger scan only the first time a board is asked for (or after it went
  unasked for `max_stale`);
- at most `max_computing` boards are computed at once per replica, so boards cannot crowd the
  database out from under the stream workers;
- concurrent first readers of one board share one computation (single flight), which a
  cancelled call does not cancel;
- what a board shows is at most `ttl` + two computations behind the ledger; its age (for
  `max_stale`) counts from when its computation started, the time of the data it read;
- memory is bounded: at most `max_entries` boards (least recently read evicted), each at most
  `max_rows` rows (the API's largest page);
- nothing is shared between replicas or kept across restarts: every replica derives its boards
  from the ledger alone, so replicas differ by at most that bound and a restarted replica starts
  empty. Balances never come from here (GetBalance reads the wallet chain and the ledger).

`ttl` 0 turns the cache off: every read computes its board, as before.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

from services.common.logging import get_logger
from services.rewards.domain.boards import Row

log = get_logger(__name__)


@dataclass(frozen=True)
class _Board:
    rows: list[Row]
    at: float  # when the computation that produced it started
    done: float  # when it ended


class LeaderboardCache:
    def __init__(
        self,
        ttl: float,
        max_stale: float = 300.0,
        max_entries: int = 256,
        max_rows: int = 500,
        max_computing: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl < 0 or max_stale < ttl:
            raise ValueError("need 0 <= ttl <= max_stale")
        self.ttl, self.max_stale, self.max_entries, self.max_rows = ttl, max_stale, max_entries, max_rows
        self._clock = clock
        self._boards: OrderedDict[Hashable, _Board] = OrderedDict()
        self._computing: dict[Hashable, asyncio.Task[_Board]] = {}
        self._slots = asyncio.Semaphore(max_computing)

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[list[Row]]]) -> list[Row]:
        """The board for `key` (its first `max_rows` rows), computing it with `compute` when needed."""
        if not self.enabled:
            return (await compute())[: self.max_rows]
        board = self._boards.get(key)
        if board is not None:
            self._boards.move_to_end(key)
            now = self._clock()
            if now - board.done < self.ttl:
                return board.rows
            if now - board.at < self.max_stale:
                self._compute(key, compute)  # one refresh in the background; the current rows meanwhile
                return board.rows
        return (await asyncio.shield(self._compute(key, compute))).rows

    def _compute(self, key: Hashable, compute: Callable[[], Awaitable[list[Row]]]) -> asyncio.Task[_Board]:
        task = self._computing.get(key)
        if task is None:
            task = asyncio.create_task(self._run(key, compute))
            self._computing[key] = task
            task.add_done_callback(lambda t: self._done(key, t))
        return task

    async def _run(self, key: Hashable, compute: Callable[[], Awaitable[list[Row]]]) -> _Board:
        async with self._slots:
            started = self._clock()
            rows = (await compute())[: self.max_rows]
            board = _Board(rows, started, self._clock())
        current = self._boards.get(key)
        if current is None or current.at <= board.at:
            self._boards[key] = board
            self._boards.move_to_end(key)
            while len(self._boards) > self.max_entries:
                self._boards.popitem(last=False)
        return board

    def _done(self, key: Hashable, task: asyncio.Task[_Board]) -> None:
        if self._computing.get(key) is task:
            del self._computing[key]
        if not task.cancelled() and task.exception() is not None:
            # Waiting callers get the error; a background refresh's error is only logged, and the
            # next read past `ttl` tries again.
            log.warning("leaderboard_refresh_failed", error=str(task.exception())[:300])
