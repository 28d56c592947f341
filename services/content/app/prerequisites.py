"""Use cases: the lessons a campaign requires before its items may be shared, set by an admin and
attached to content items on read (GetContent, the feed) as `required_lesson_ids`.

One document per campaign, read by `_id`. The share service enforces them (not this service).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from advocacy.content.v1.content_pb2 import ContentItem
from advocacy.content.v1.training_pb2 import CampaignPrerequisites, LessonStatus

from services.common.events import to_timestamp, utcnow
from services.content.app.lessons import LessonNotFound
from services.content.app.ports import LessonStore, PrerequisiteStore
from services.content.domain.lifecycle import InvalidContent
from services.content.domain.training import check_prerequisites


@dataclass
class Prerequisites:
    store: PrerequisiteStore
    lessons: LessonStore
    clock: Callable[[], datetime] = utcnow

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
        prerequisites = CampaignPrerequisites(
            campaign_id=campaign_id, lesson_ids=ids, updated_at=to_timestamp(self.clock()), updated_by=actor_id
        )
        await self.store.put(prerequisites)
        return prerequisites

    async def attach(self, items: Sequence[ContentItem]) -> None:
        """Sets each item's `required_lesson_ids` from its campaign (one read per distinct campaign)."""
        campaigns = sorted({item.campaign_id for item in items if item.campaign_id})
        found = await asyncio.gather(*(self.store.get(c) for c in campaigns))
        required = {c: list(p.lesson_ids) for c, p in zip(campaigns, found, strict=True) if p is not None}
        for item in items:
            del item.required_lesson_ids[:]
            item.required_lesson_ids.extend(required.get(item.campaign_id, []))
