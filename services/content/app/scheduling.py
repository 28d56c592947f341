"""Use case: publish scheduled items at their `publish_at` and expire them at their `expires_at`.

Runs inside every replica of the content service. Each due item is claimed with one conditional
change record (id + version) that also carries its event: when two replicas find the same item
due, exactly one is recorded and exactly one event is written. State lives only in the database,
so a restart between scheduling and the due time loses nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from services.common.events import optional_time, utcnow
from services.common.logging import get_logger
from services.content.app.ports import ContentEventFactory, OutboxWritten, ScheduledItems
from services.content.app.transitions import advance
from services.content.domain.item import status_of
from services.content.domain.lifecycle import Action
from services.content.domain.schedule import due_action

log = get_logger(__name__)

# Change records younger than this may still be projected by their writer; older unprojected ones
# mean the writer died in between, and the scheduler finishes its work.
REPAIR_SETTLE = timedelta(seconds=5)
REPAIR_WINDOW = timedelta(hours=1)
REPAIR_EVERY_SECONDS = 30.0


class Scheduler:
    def __init__(
        self,
        items: ScheduledItems,
        events: ContentEventFactory,
        on_outbox_write: OutboxWritten,
        transient: tuple[type[Exception], ...],
        interval_seconds: float = 1.0,
        on_transition: Callable[[Action], None] = lambda action: None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """`transient`: the storage errors a scan survives (logged, tried again next interval)."""
        self._items = items
        self._events = events
        self._notify = on_outbox_write
        self._transient = transient
        self._interval = interval_seconds
        self._on_transition = on_transition
        self._clock = clock
        self._stopped = asyncio.Event()
        self._next_repair = 0.0

    def stop(self) -> None:
        self._stopped.set()

    async def run(self) -> None:
        while not self._stopped.is_set():
            try:
                await self.tick()
                if time.monotonic() >= self._next_repair:
                    self._next_repair = time.monotonic() + REPAIR_EVERY_SECONDS
                    if repaired := await self._items.repair(self._clock(), REPAIR_SETTLE, REPAIR_WINDOW):
                        log.warning("projection_repaired", items=repaired)
            except self._transient as exc:
                log.warning("scheduler_retry", error=str(exc)[:300])
            try:
                await asyncio.wait_for(self._stopped.wait(), timeout=self._interval)
            except TimeoutError:
                pass

    async def tick(self) -> int:
        """One scan; returns how many transitions this replica won."""
        now = self._clock()
        won = 0
        for item in await self._items.due(now):
            action = due_action(
                status_of(item),
                optional_time(item, "publish_at"),
                optional_time(item, "expires_at"),
                now,
            )
            if action is None:
                continue
            updated, events = advance(item, action, now, self._events, actor_id="scheduler")
            if await self._items.replace(updated, item.version, events, expected_status=item.status):
                if events:
                    self._notify(updated)
                won += 1
                self._on_transition(action)
                log.info("scheduled_transition", content_id=item.content_id, action=action.value)
        return won
