"""Use cases: the lessons a campaign requires before its items may be shared, set by an admin,
attached to content items on read (GetContent, the feed) as `required_lesson_ids`, and announced
on the compacted topic `campaign-prerequisites` (the whole list per change) for the share service,
which enforces them.

One document per campaign, read by `_id`; every change is a new version inserted with its event.
An archived lesson is required by nobody: archiving it writes a new version of every campaign
that listed it (`drop_lesson`), and the start-up pass (`recover`) finishes what a crash between
the archive and those writes left undone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from advocacy.content.v1.content_pb2 import ContentItem
from advocacy.content.v1.training_pb2 import CampaignPrerequisites, LessonStatus

from services.common.events import to_timestamp, utcnow
from services.content.app.lessons import LessonNotFound
from services.content.app.ports import LessonStore, PrerequisiteEventFactory, PrerequisiteStore
from services.content.domain.lifecycle import InvalidContent
from services.content.domain.training import check_prerequisites

# Concurrent changes of one campaign retry a lost compare-and-set this often (each re-reads the winner).
WRITE_ATTEMPTS = 20
# Who changed a list when the system did (an archived lesson removed).
SYSTEM_ACTOR = "system:lesson-archived"


@dataclass
class Prerequisites:
    store: PrerequisiteStore
    lessons: LessonStore
    events: PrerequisiteEventFactory
    clock: Callable[[], datetime] = utcnow
    # Wakes the relay of the versions' outboxes after a change was stored.
    on_changed: Callable[[], None] = field(default=lambda: None)

    async def get(self, campaign_id: str) -> CampaignPrerequisites:
        """A campaign never set requires nothing (an empty list, not NOT_FOUND)."""
        found = await self.store.get(campaign_id)
        return found if found is not None else CampaignPrerequisites(campaign_id=campaign_id)

    async def set(self, campaign_id: str, lesson_ids: Sequence[str], actor_id: str) -> CampaignPrerequisites:
        """Replaces the list. Raises InvalidContent (a bad list, an archived lesson) or LessonNotFound."""
        ids = check_prerequisites(lesson_ids)
        lessons = await asyncio.gather(*(self.lessons.get(i) for i in ids))
        for i, (lesson_id, lesson) in enumerate(zip(ids, lessons, strict=True)):
            if lesson is None:
                raise LessonNotFound(lesson_id)
            if lesson.status == LessonStatus.LESSON_STATUS_ARCHIVED:
                raise InvalidContent(f"lesson_ids[{i}]", f"lesson {lesson_id!r} is archived")
        written = await self._change(campaign_id, lambda _: ids, actor_id, always=True)
        assert written is not None, "an unconditional change always writes"
        return written

    async def drop_lesson(self, lesson_id: str) -> None:
        """Removes an archived lesson from every campaign that requires it (each announced again)."""
        for campaign_id in await self.store.requiring(lesson_id):
            await self._change(campaign_id, _without({lesson_id}), SYSTEM_ACTOR)

    async def recover(self) -> None:
        """At start: announces lists stored before they were announced, and drops archived lessons a
        crash left on a list. Every replica may run it at once: the versions decide."""
        for campaign_id in await self.store.campaigns():
            version, found = await self.store.current(campaign_id)
            if found is None:
                continue
            listed = await asyncio.gather(*(self.lessons.get(i) for i in found.lesson_ids))
            archived = {
                lesson.lesson_id for lesson in listed if lesson and lesson.status == LessonStatus.LESSON_STATUS_ARCHIVED
            }
            if archived or version == 0:
                actor = SYSTEM_ACTOR if archived else found.updated_by
                await self._change(campaign_id, _without(archived), actor, always=True)

    async def _change(
        self,
        campaign_id: str,
        change: Callable[[list[str]], list[str]],
        actor_id: str,
        always: bool = False,
    ) -> CampaignPrerequisites | None:
        """Writes the next version with `change` applied to the list in force (unless it changes
        nothing and not `always`); the stored list, or None when nothing was written."""
        for _ in range(WRITE_ATTEMPTS):
            version, found = await self.store.current(campaign_id)
            before = list(found.lesson_ids) if found is not None else []
            after = change(before)
            if after == before and not always:
                return None
            prerequisites = CampaignPrerequisites(
                campaign_id=campaign_id, lesson_ids=after, updated_at=to_timestamp(self.clock()), updated_by=actor_id
            )
            event = self.events.prerequisites_changed(prerequisites, version + 1)
            if await self.store.put(prerequisites, version + 1, event):
                self.on_changed()
                return prerequisites
        raise RuntimeError(f"the prerequisites of {campaign_id!r} changed {WRITE_ATTEMPTS} times during one write")

    async def attach(self, items: Sequence[ContentItem]) -> None:
        """Sets each item's `required_lesson_ids` from its campaign (one read per distinct campaign)."""
        campaigns = sorted({item.campaign_id for item in items if item.campaign_id})
        found = await asyncio.gather(*(self.store.get(c) for c in campaigns))
        required = {c: list(p.lesson_ids) for c, p in zip(campaigns, found, strict=True) if p is not None}
        for item in items:
            del item.required_lesson_ids[:]
            item.required_lesson_ids.extend(required.get(item.campaign_id, []))


def _without(lesson_ids: set[str]) -> Callable[[list[str]], list[str]]:
    return lambda ids: [i for i in ids if i not in lesson_ids]
