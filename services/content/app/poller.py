"""Use case: poll every active feed source on its own schedule; runs inside every replica of the content service.

Each due source is polled in a task of its own (at most `concurrency` at once), so a slow or
failing source never delays the others. Before polling, a replica claims the poll slot by
inserting its id (services/content/adapters/sources.py): of two replicas finding a source due at
once, one polls. Should both poll anyway (a slot's lease running out while its winner is still
at work), nothing is created twice: item ids come from the entries.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from advocacy.content.v1.content_pb2 import FeedSource, SourceStatus

from services.common.events import from_timestamp, optional_time, utcnow
from services.common.logging import get_logger
from services.content.app.polling import PollResult
from services.content.app.ports import Sources
from services.content.domain import sources as rules

log = get_logger(__name__)

PollOne = Callable[[FeedSource, SourceStatus, datetime], Awaitable[PollResult]]


def failing_seconds(source: FeedSource, status: SourceStatus, now: datetime) -> float:
    since = optional_time(status, "last_success_at") or from_timestamp(source.created_at)
    return rules.failing_seconds(source.paused, status.consecutive_failures, since, now)


class SourcePoller:
    def __init__(
        self,
        sources: Sources,
        poll_one: PollOne,
        transient: tuple[type[Exception], ...],
        on_polled: Callable[[PollResult], None] = lambda result: None,
        on_failing: Callable[[float], None] = lambda seconds: None,
        tick_seconds: float = 1.0,
        refresh_seconds: float = 10.0,
        lease_seconds: float = 60.0,
        concurrency: int = 8,
    ) -> None:
        """`transient`: the storage errors a poll survives (logged, retried a tick later);
        `on_polled` / `on_failing`: each poll's result, the longest failure after each listing."""
        self._sources = sources
        self._poll_one = poll_one
        self._transient = transient
        self._on_polled = on_polled
        self._on_failing = on_failing
        self._tick = tick_seconds
        self._refresh = refresh_seconds
        self._lease = lease_seconds
        self._slots = asyncio.Semaphore(concurrency)
        self._configs: list[FeedSource] = []
        self._next: dict[str, float] = {}  # source id -> epoch seconds this replica looks again
        self._running: dict[str, asyncio.Task[None]] = {}
        self._refresh_at = 0.0
        self._stopped = asyncio.Event()
        self._wake = asyncio.Event()

    def poke(self, source_id: str = "") -> None:
        """A source was created or resumed here: list the sources again and poll it now."""
        self._refresh_at = 0.0
        self._next.pop(source_id, None)
        self._wake.set()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()

    async def run(self) -> None:
        while not self._stopped.is_set():
            try:
                await self.tick()
            except self._transient as exc:
                log.warning("source_poller_retry", error=str(exc)[:300])
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._tick)
            except TimeoutError:
                pass
            self._wake.clear()
        if self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def tick(self) -> None:
        if time.monotonic() >= self._refresh_at:
            await self._load()
        now = time.time()
        for source in self._configs:
            sid = source.source_id
            if source.paused or sid in self._running or self._next.get(sid, 0.0) > now:
                continue
            self._running[sid] = asyncio.create_task(self._attempt(source))

    def _finished(self, source_id: str) -> None:
        self._running.pop(source_id, None)

    async def _load(self) -> None:
        self._configs = await self._sources.configs()
        self._refresh_at = time.monotonic() + self._refresh
        now = utcnow()
        worst = 0.0
        for source in self._configs:
            status, _ = await self._sources.status(source.source_id)
            if status.HasField("next_poll_at"):
                self._next[source.source_id] = from_timestamp(status.next_poll_at).timestamp()
            worst = max(worst, failing_seconds(source, status, now))
        self._on_failing(worst)
        known = {s.source_id for s in self._configs}
        for sid in [s for s in self._next if s not in known]:
            del self._next[sid]

    async def _attempt(self, source: FeedSource) -> None:
        try:
            async with self._slots:
                await self._claim_and_poll(source)
        except self._transient as exc:
            self._next[source.source_id] = time.time() + self._tick
            log.warning("source_poll_not_recorded", source_id=source.source_id, error=str(exc)[:300])
        finally:
            self._finished(source.source_id)

    async def _claim_and_poll(self, source: FeedSource) -> None:
        sid = source.source_id
        status, previous_claim = await self._sources.status(sid)
        now = utcnow()
        due = optional_time(status, "next_poll_at")
        if due is not None and due > now:
            self._next[sid] = due.timestamp()  # another replica polled it meanwhile
            return
        claim = rules.claim_id(sid, due, now, self._lease)
        if not await self._sources.claim(claim, now):
            self._next[sid] = time.time() + self._tick  # another replica is polling it
            return
        result = await self._poll_one(source, status, now)
        await self._sources.save_status(sid, result.status, claim)
        if previous_claim and previous_claim != claim:
            await self._sources.release(previous_claim)
        self._next[sid] = from_timestamp(result.status.next_poll_at).timestamp()
        self._on_polled(result)
        log.info("source_polled", source_id=sid, outcome=result.outcome, created=result.created)
