"""Read results kept per query for a few seconds, so a repeated read does not cost a collection scan.

Leaderboards (summed from the ledger) and analytics figures (summed from the facts) are derived
by aggregations whose filters FerretDB's SQLite backend evaluates by scanning the collection
(only `{_id: v}` is pushed down), so their cost grows with the data: seconds at a few hundred
thousand documents. Both are eventually consistent anyway (the pipeline's delay), so each
replica keeps the result of every query it was asked and recomputes it in the background once it
is `ttl` seconds old:

- a fresh result is answered from memory; a result computed more than `ttl` ago (counted from
  the end of its computation, so one query's scans never run back to back however long they
  take) is still answered at once, and ONE background computation replaces it
  (stale-while-revalidate), so a reader waits for a scan only the first time a query is asked
  (or after it went unasked for `max_stale`);
- at most `max_computing` results are computed at once per replica, so reads cannot crowd the
  database out from under the stream workers;
- concurrent first readers of one query share one computation (single flight), which a
  cancelled call does not cancel;
- what a result shows is at most `ttl` + two computations behind the data; its age (for
  `max_stale`) counts from when its computation started, the time of the data it read;
- memory is bounded: at most `max_entries` results (least recently read evicted); callers keep
  each result small (a board's first page, a series);
- nothing is shared between replicas or kept across restarts: every replica derives its results
  from the database alone, so replicas differ by at most that bound and a restarted replica
  starts empty.

`ttl` 0 turns the cache off: every read computes its result.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from services.common.logging import get_logger

log = get_logger(__name__)


T = TypeVar("T")


@dataclass(frozen=True)
class _Result(Generic[T]):
    value: T
    at: float  # when the computation that produced it started
    done: float  # when it ended


class ReadCache(Generic[T]):
    def __init__(
        self,
        ttl: float,
        max_stale: float = 300.0,
        max_entries: int = 256,
        max_computing: int = 2,
        clock: Callable[[], float] = time.monotonic,
        name: str = "read",
    ) -> None:
        if ttl < 0 or max_stale < ttl:
            raise ValueError("need 0 <= ttl <= max_stale")
        self.ttl, self.max_stale, self.max_entries, self.name = ttl, max_stale, max_entries, name
        self._clock = clock
        self._results: OrderedDict[Hashable, _Result[T]] = OrderedDict()
        self._computing: dict[Hashable, asyncio.Task[_Result[T]]] = {}
        self._slots = asyncio.Semaphore(max_computing)

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        """The result for `key`, computing it with `compute` when needed."""
        if not self.enabled:
            return await compute()
        result = self._results.get(key)
        if result is not None:
            self._results.move_to_end(key)
            now = self._clock()
            if now - result.done < self.ttl:
                return result.value
            if now - result.at < self.max_stale:
                self._compute(key, compute)  # one refresh in the background; the current value meanwhile
                return result.value
        return (await asyncio.shield(self._compute(key, compute))).value

    def _compute(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> asyncio.Task[_Result[T]]:
        task = self._computing.get(key)
        if task is None:
            task = asyncio.create_task(self._run(key, compute))
            self._computing[key] = task
            task.add_done_callback(lambda t: self._done(key, t))
        return task

    async def _run(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> _Result[T]:
        async with self._slots:
            started = self._clock()
            value = await compute()
            result = _Result(value, started, self._clock())
        current = self._results.get(key)
        if current is None or current.at <= result.at:
            self._results[key] = result
            self._results.move_to_end(key)
            while len(self._results) > self.max_entries:
                self._results.popitem(last=False)
        return result

    def _done(self, key: Hashable, task: asyncio.Task[_Result[T]]) -> None:
        if self._computing.get(key) is task:
            del self._computing[key]
        if not task.cancelled() and task.exception() is not None:
            # Waiting callers get the error; a background refresh's error is only logged, and the
            # next read past `ttl` tries again.
            log.warning("cached_read_refresh_failed", cache=self.name, error=str(task.exception())[:300])
