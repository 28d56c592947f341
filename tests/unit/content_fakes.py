"""In-memory fakes of the content service's item storage, for its use cases' unit tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from advocacy.content.v1.content_pb2 import ContentItem

from services.common.outbox import OutboxEvent


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
