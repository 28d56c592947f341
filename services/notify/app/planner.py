"""Planning use cases: an input event (already translated to domain terms) becomes queued
notifications with deterministic ids; a redelivered event queues nothing new."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from services.notify.app.stores import NotificationStore, Queued, Views
from services.notify.domain.notification import Kind
from services.notify.domain.planning import (
    Award,
    Item,
    Planned,
    ShareFact,
    plan_leader_shared,
    plan_new_content,
    plan_thank_you,
)


class Planner:
    def __init__(
        self,
        views: Views,
        store: NotificationStore,
        on_queued: Callable[[Sequence[Queued]], None],
        clock: Callable[[], datetime],
        thank_you_window_seconds: int,
        thank_you_grace_seconds: float,
        views_wait: Callable[[], Awaitable[None]] | None = None,
        # Events older than this plan nothing (a first start reading the topics' history, or a long
        # outage): news of last month is noise.
        max_event_age: timedelta = timedelta(hours=24),
        # Whether an advocate wants a kind at all (not opted out, kind enabled): a fan-out to a
        # whole company queues nothing for those who would only be skipped at delivery.
        wants: Callable[[str, Kind], Awaitable[bool]] | None = None,
    ) -> None:
        self._max_age = max_event_age
        self._wants = wants
        self._views = views
        self._store = store
        self._on_queued = on_queued
        self._clock = clock
        self._window = thank_you_window_seconds
        self._grace = thank_you_grace_seconds
        self._views_wait = views_wait or self._wait_current

    async def _wait_current(self) -> None:
        # Planning against a directory that has not read its topic yet would miss people. Polled:
        # `current` is the age of the broker's last confirmation, which no event announces.
        while not self._views.current():  # noqa: ASYNC110
            await asyncio.sleep(0.1)

    async def _queue(self, planned: Sequence[Planned]) -> int:
        if self._wants is not None:
            planned = [p for p in planned if await self._wants(p.advocate_id, p.kind)]
        if not planned:
            return 0
        queued = await self._store.enqueue(planned)
        self._on_queued(queued)
        return len(queued)

    def _stale(self, occurred_at: datetime) -> bool:
        return self._clock() - occurred_at > self._max_age

    async def points_awarded(self, award: Award) -> int:
        if self._stale(award.occurred_at):
            return 0
        planned = plan_thank_you(award, self._window, self._grace)
        return await self._queue([planned] if planned else [])

    async def content_published(self, item: Item, occurred_at: datetime) -> int:
        if self._stale(occurred_at):
            return 0
        await self._views_wait()
        return await self._queue(plan_new_content(item, self._views.advocates(), self._clock()))

    async def share_made(self, share: ShareFact, leader: bool) -> int:
        if not leader or self._stale(share.occurred_at):
            return 0
        await self._views_wait()
        sharer = self._views.advocate(share.advocate_id)
        item = self._views.item(share.content_id)
        if sharer is None or item is None:
            return 0  # an item no longer published, or a leader not in the directory: nobody to tell
        team = [a for a in self._views.advocates() if a.team == sharer.team]
        sharers = self._views.sharers(share.content_id)
        return await self._queue(plan_leader_shared(sharer, item, team, sharers, self._clock()))
