"""Plans each advocate's digest when its local send time comes (daily or weekly, per preferences)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from services.common.logging import get_logger
from services.notify.app.preferences import PreferencesService
from services.notify.app.stores import NotificationStore, Queued, Views
from services.notify.domain.notification import Kind
from services.notify.domain.planning import Planned, digest_id, digest_period

log = get_logger(__name__)


class DigestScheduler:
    def __init__(
        self,
        views: Views,
        preferences: PreferencesService,
        store: NotificationStore,
        on_queued: Callable[[Sequence[Queued]], None],
        clock: Callable[[], datetime],
        send_hour: int = 8,
        tick_seconds: float = 30.0,
        # A digest planned this late after its send time (the service was down) is not sent: a
        # Monday summary arriving on Sunday is noise.
        max_delay: timedelta = timedelta(hours=6),
    ) -> None:
        self._views = views
        self._prefs = preferences
        self._store = store
        self._on_queued = on_queued
        self._clock = clock
        self._hour = send_hour
        self._tick = tick_seconds
        self._max_delay = max_delay
        # Per advocate, the last digest id this process planned or found finished (one entry each).
        self._planned: dict[str, str] = {}
        self._stopped = asyncio.Event()

    def stop(self) -> None:
        self._stopped.set()

    async def run(self) -> None:
        while not self._stopped.is_set():
            try:
                if self._views.current():
                    await self.tick()
            except Exception as exc:  # the database down: the next tick plans what this one could not
                log.warning("digest_tick_failed", error=repr(exc)[:300])
            try:
                await asyncio.wait_for(self._stopped.wait(), timeout=self._tick)
            except TimeoutError:
                pass

    async def tick(self) -> int:
        now = self._clock()
        planned: list[Planned] = []
        for advocate in self._views.advocates():
            if not advocate.enrolled:
                continue
            prefs, _ = await self._prefs.effective(advocate.advocate_id)
            if prefs.opted_out or Kind.DIGEST not in prefs.kinds:
                continue
            period = digest_period(prefs.digest, advocate.timezone, now, self._hour)
            if period is None or now - period.end > self._max_delay:
                continue
            nid = digest_id(advocate.advocate_id, period)
            if self._planned.get(advocate.advocate_id) == nid:
                continue
            if await self._store.finished(nid):
                self._planned[advocate.advocate_id] = nid
                continue
            data = {
                "period": prefs.digest.value,
                "period_key": period.key,
                "start": period.start.isoformat(),
                "end": period.end.isoformat(),
            }
            planned.append(Planned(nid, Kind.DIGEST, advocate.advocate_id, now, data))
        if planned:
            self._on_queued(await self._store.enqueue(planned))
            self._planned.update((p.advocate_id, p.notification_id) for p in planned)
        return len(planned)
