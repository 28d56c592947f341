"""In-memory fakes of the content service's storage (items, lessons, progress), for its use cases' unit tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from advocacy.content.v1.content_pb2 import ContentItem
from advocacy.content.v1.training_pb2 import CampaignPrerequisites, Lesson

from services.common.outbox import OutboxEvent
from services.content.app.ports import Attempts, Completion
from services.content.domain.feed import Viewer


@dataclass
class FakeItems:
    items: dict[str, ContentItem] = field(default_factory=dict)
    events: list[OutboxEvent] = field(default_factory=list)
    lose_next: bool = False  # the next replace loses to another writer

    def add(self, content_id: str, status: int, **fields: object) -> ContentItem:
        item = ContentItem(content_id=content_id, title="t", url="https://e.x", status=status, version=2, **fields)
        self.items[content_id] = item
        return item

    async def insert(self, item: ContentItem) -> None:
        self.items[item.content_id] = item

    async def get(self, content_id: str) -> ContentItem | None:
        return self.items.get(content_id)

    async def replace(self, item, expected_version, events, expected_status=None) -> bool:
        current = self.items[item.content_id]
        if self.lose_next or current.version != expected_version or current.status != expected_status:
            self.lose_next = False
            return False
        self.items[item.content_id] = item
        self.events.extend(events)
        return True

    async def due(self, now: datetime) -> list[ContentItem]:
        return list(self.items.values())  # the use case decides; the adapter's query only narrows

    async def repair(self, now: datetime, settle: timedelta, window: timedelta) -> int:
        return 0


# --- training -----------------------------------------------------------------------------------


@dataclass
class FakeLessons:
    lessons: dict[str, Lesson] = field(default_factory=dict)
    index_ids: list[str] = field(default_factory=list)
    lose_next: bool = False  # the next replace loses to another writer

    async def get(self, lesson_id: str) -> Lesson | None:
        found = self.lessons.get(lesson_id)
        return Lesson.FromString(found.SerializeToString()) if found is not None else None

    async def insert(self, lesson: Lesson) -> None:
        self.lessons[lesson.lesson_id] = Lesson.FromString(lesson.SerializeToString())

    async def replace(self, lesson: Lesson, expected_version: int) -> bool:
        if self.lose_next or self.lessons[lesson.lesson_id].version != expected_version:
            self.lose_next = False
            return False
        self.lessons[lesson.lesson_id] = Lesson.FromString(lesson.SerializeToString())
        return True

    async def list_lessons(self, status: int, after_id: str | None, limit: int) -> list[Lesson]:
        ids = sorted((i for i in self.lessons if after_id is None or i < after_id), reverse=True)
        return [self.lessons[i] for i in ids if not status or self.lessons[i].status == status][:limit]

    async def published_ids(self) -> list[str]:
        return list(self.index_ids)

    async def index(self, lesson_id: str, published: bool, limit: int) -> bool:
        if published and lesson_id not in self.index_ids:
            if len(self.index_ids) >= limit:
                return False
            self.index_ids.append(lesson_id)
        if not published and lesson_id in self.index_ids:
            self.index_ids.remove(lesson_id)
        return True


@dataclass
class FakeProgress:
    attempt_counts: dict[tuple[str, str], Attempts] = field(default_factory=dict)
    completions: dict[tuple[str, str], Completion] = field(default_factory=dict)
    events: list[OutboxEvent] = field(default_factory=list)

    async def attempts(self, advocate_id: str, lesson_id: str) -> Attempts | None:
        return self.attempt_counts.get((advocate_id, lesson_id))

    async def record_attempt(self, advocate_id: str, lesson_id: str, score: int, now: datetime) -> Attempts:
        before = self.attempt_counts.get((advocate_id, lesson_id), Attempts(0, 0, 0))
        after = Attempts(before.attempts + 1, score, max(before.best_score, score))
        self.attempt_counts[(advocate_id, lesson_id)] = after
        return after

    async def completion(self, advocate_id: str, lesson_id: str) -> Completion | None:
        return self.completions.get((advocate_id, lesson_id))

    async def complete(self, advocate_id: str, lesson_id: str, completion: Completion, event: OutboxEvent) -> bool:
        if (advocate_id, lesson_id) in self.completions:
            return False
        self.completions[(advocate_id, lesson_id)] = completion
        self.events.append(event)
        return True


@dataclass
class FakeViewers:
    viewers: dict[str, Viewer] = field(default_factory=dict)

    def add(self, advocate_id: str, team: str = "sales", enrolled: bool = True, **fields: str) -> Viewer:
        viewer = Viewer(advocate_id, team, fields.get("location", "Zurich"), "en", "rep", (), enrolled)
        self.viewers[advocate_id] = viewer
        return viewer

    async def viewer(self, advocate_id: str) -> Viewer | None:
        return self.viewers.get(advocate_id)

    async def shared_content_ids(self, advocate_id: str, content_ids: list[str]) -> set[str]:
        return set()


@dataclass
class FakePrerequisites:
    """Versions per campaign, each with its event, as the MongoDB store keeps them."""

    versions: dict[str, list[tuple[CampaignPrerequisites, OutboxEvent]]] = field(default_factory=dict)
    lose_next: bool = False  # the next put loses to another writer (who stored that version first)
    # Lists stored before versions existed (version 0, never announced).
    unversioned: dict[str, CampaignPrerequisites] = field(default_factory=dict)

    async def get(self, campaign_id: str) -> CampaignPrerequisites | None:
        return (await self.current(campaign_id))[1]

    async def current(self, campaign_id: str) -> tuple[int, CampaignPrerequisites | None]:
        held = self.versions.get(campaign_id, [])
        return len(held), (held[-1][0] if held else self.unversioned.get(campaign_id))

    async def put(self, prerequisites: CampaignPrerequisites, version: int, event: OutboxEvent) -> bool:
        held = self.versions.setdefault(prerequisites.campaign_id, [])
        if self.lose_next:
            self.lose_next = False
            held.append((CampaignPrerequisites(campaign_id=prerequisites.campaign_id, lesson_ids=["x"]), event))
            return False
        if version != len(held) + 1:
            return False
        held.append((prerequisites, event))
        return True

    async def requiring(self, lesson_id: str) -> list[str]:
        return [c for c, held in self.versions.items() if held and lesson_id in held[-1][0].lesson_ids]

    async def campaigns(self) -> list[str]:
        return list({**self.unversioned, **self.versions})
