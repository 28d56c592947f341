"""The delivery loop: a timer wheel of queued notification ids (in memory, rebuilt from the queue
collection on start), handing each to the deliverer when it is due, a few at a time."""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable, Sequence
from datetime import datetime

from services.common.logging import get_logger
from services.notify import metrics
from services.notify.app.delivery import Deliverer
from services.notify.app.stores import NotificationStore, Queued

log = get_logger(__name__)


class DeliveryLoop:
    def __init__(
        self,
        store: NotificationStore,
        deliverer: Deliverer,
        clock: Callable[[], datetime],
        concurrency: int = 8,
        error_retry_seconds: float = 1.0,
    ) -> None:
        self._store = store
        self._deliverer = deliverer
        self._clock = clock
        self._concurrency = concurrency
        self._error_retry = error_retry_seconds
        self._heap: list[tuple[datetime, str]] = []
        self._due: dict[str, datetime] = {}  # the latest due time per id; older heap entries are stale
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()
        self._loaded = False

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()

    def poke(self) -> None:
        """Looks at the queue now (after a clock change in tests)."""
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._due)

    def add(self, queued: Sequence[Queued]) -> None:
        for q in queued:
            self._schedule(q.notification_id, q.due_at)
        self._wake.set()

    def _schedule(self, notification_id: str, at: datetime) -> None:
        self._due[notification_id] = at
        heapq.heappush(self._heap, (at, notification_id))

    async def _load(self) -> None:
        # The queue holds only unfinished work: reading it whole is bounded by the backlog, not history.
        for q in await self._store.all_queued():
            self._schedule(q.notification_id, q.due_at)
        self._loaded = True
        log.info("delivery_queue_loaded", pending=len(self._due))

    async def run(self) -> None:
        while not self._stopped.is_set():
            try:
                if not self._loaded:
                    await self._load()
                await self.run_due()
            except Exception as exc:  # the database down: keep everything queued, try again
                log.warning("delivery_loop_retry", error=repr(exc)[:300])
                await self._sleep(self._error_retry)
                continue
            await self._sleep(self._seconds_to_next())

    def _seconds_to_next(self) -> float:
        if not self._heap:
            return 5.0
        return max(0.0, min(5.0, (self._heap[0][0] - self._clock()).total_seconds()))

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        except TimeoutError:
            pass

    def _take_due(self) -> list[str]:
        now = self._clock()
        due: list[str] = []
        while self._heap and self._heap[0][0] <= now and len(due) < self._concurrency:
            at, nid = heapq.heappop(self._heap)
            if self._due.get(nid) == at and nid not in due:
                due.append(nid)
        return due

    async def run_due(self) -> int:
        """Delivers everything due now; returns how many it handled."""
        handled = 0
        while due := self._take_due():
            results = await asyncio.gather(*(self._deliverer.deliver(nid) for nid in due), return_exceptions=True)
            failure: BaseException | None = None
            for nid, result in zip(due, results, strict=True):
                if isinstance(result, BaseException):
                    # Channel states already recorded stay; the rest of the step is done again.
                    self._schedule(nid, self._clock())
                    failure = failure or result
                elif result is None:
                    self._due.pop(nid, None)
                else:
                    self._schedule(nid, result)
            handled += len(due)
            if failure is not None:
                raise failure
        self._update_gauges()
        return handled

    def _update_gauges(self) -> None:
        metrics.PENDING.set(len(self._due))
        now = self._clock()
        oldest = min(self._due.values(), default=now)
        metrics.QUEUE_AGE.set(max(0.0, (now - oldest).total_seconds()))
