"""Publishes scheduled items at their `publish_at` and expires published ones at their `expires_at`.

Runs inside every replica of the content service. Each due item is claimed with one conditional
single-document update (id + status + version) that also pushes the event into the outbox: when two
replicas find the same item due, exactly one update matches and exactly one event is written. State
lives only in the database, so a restart between scheduling and the due time loses nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta

from prometheus_client import Counter
from pymongo.errors import PyMongoError

from services.common.events import optional_time, utcnow
from services.common.logging import get_logger
from services.content.adapters.repository import ContentRepository, version_id
from services.content.domain.schedule import due_action
from services.content.transitions import ContentEvents, advance, status_of

log = get_logger(__name__)

# Change records younger than this may still be projected by their writer; older unprojected ones
# mean the writer died in between, and the scheduler finishes its work.
REPAIR_SETTLE = timedelta(seconds=5)
REPAIR_WINDOW = timedelta(hours=1)
REPAIR_EVERY_SECONDS = 30.0

SCHEDULED_TRANSITIONS = Counter(
    "advocacy_content_scheduled_transitions_total",
    "Items this replica published or expired on schedule (claims lost to another replica are not counted).",
    ["action"],
)


class Scheduler:
    def __init__(
        self,
        repository: ContentRepository,
        events: ContentEvents,
        on_outbox_write: Callable[[str], None],
        interval_seconds: float = 1.0,
    ) -> None:
        self._repo = repository
        self._events = events
        self._notify = on_outbox_write
        self._interval = interval_seconds
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
                    if repaired := await self._repo.repair(utcnow(), REPAIR_SETTLE, REPAIR_WINDOW):
                        log.warning("projection_repaired", items=repaired)
            except PyMongoError as exc:
                log.warning("scheduler_retry", error=str(exc)[:300])
            try:
                await asyncio.wait_for(self._stopped.wait(), timeout=self._interval)
            except TimeoutError:
                pass

    async def tick(self) -> int:
        """One scan; returns how many transitions this replica won."""
        now = utcnow()
        won = 0
        for item in await self._repo.due(now):
            action = due_action(
                status_of(item),
                optional_time(item, "publish_at"),
                optional_time(item, "expires_at"),
                now,
            )
            if action is None:
                continue
            updated, events = advance(item, action, now, self._events, actor_id="scheduler")
            if await self._repo.replace(updated, item.version, events, expected_status=item.status):
                if events:
                    self._notify(version_id(updated.content_id, updated.version))
                won += 1
                SCHEDULED_TRANSITIONS.labels(action.value).inc()
                log.info("scheduled_transition", content_id=item.content_id, action=action.value)
        return won
