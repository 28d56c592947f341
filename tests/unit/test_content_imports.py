"""ImportContent's use case over an in-memory store: items recorded as published in the past (or
expired, when their expiry passed too) with imported `content-published` events; past times only;
a repeated key answers the item recorded before; a bad entry is named and nothing is written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from advocacy.content.v1.content_pb2 import ContentItem, ContentPublished, ContentStatus, ImportedContent
from grpc_interceptor.exceptions import InvalidArgument

from services.common.events import from_timestamp, to_timestamp
from services.common.outbox import OutboxEvent
from services.content.adapters.events import ContentEvents
from services.content.app.imports import MAX_BATCH, ImportItems, imported_content_id

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
DAY = timedelta(days=1)


class Recorded:
    def __init__(self) -> None:
        self.items: dict[str, ContentItem] = {}
        self.events: list[OutboxEvent] = []

    async def insert_recorded(self, item: ContentItem, events: list[OutboxEvent]) -> bool:
        if item.content_id in self.items:
            return False
        self.items[item.content_id] = item
        self.events.extend(events)
        return True

    async def get(self, content_id: str) -> ContentItem | None:
        return self.items.get(content_id)


def entry(key: str = "old-1", published: datetime | None = NOW - 60 * DAY, **fields: object) -> ImportedContent:
    item = ContentItem(**{"title": "Our plant runs on wind", "url": "https://example.com/wind", **fields})
    given = ImportedContent(import_key=key, item=item)
    if published is not None:
        given.published_at.CopyFrom(to_timestamp(published))
    return given


def use_case() -> tuple[ImportItems, Recorded, list[str]]:
    store, woken = Recorded(), []
    use = ImportItems(
        store, ContentEvents(lambda n: f"t.{n}"), lambda item: woken.append(item.content_id), clock=lambda: NOW
    )
    return use, store, woken


def published(event: OutboxEvent) -> ContentPublished:
    return ContentPublished.FromString(event.value)


async def test_an_item_is_recorded_published_in_the_past_and_a_repeat_answers_it():
    use, store, woken = use_case()
    [(item, created)] = await use([entry(expires_at=to_timestamp(NOW + 30 * DAY))])
    assert created and item.status == ContentStatus.CONTENT_STATUS_PUBLISHED and item.version == 1
    assert item.content_id == imported_content_id("old-1") and woken == [item.content_id]
    assert from_timestamp(item.published_at) == NOW - 60 * DAY
    [event] = [published(e) for e in store.events]
    assert event.kind == ContentPublished.KIND_PUBLISHED and event.imported
    assert from_timestamp(event.occurred_at) == NOW - 60 * DAY
    [(again, created)] = await use([entry()])
    assert not created and again == item and len(store.events) == 1


async def test_an_item_whose_expiry_passed_is_recorded_expired_after_its_publication():
    use, store, _ = use_case()
    [(item, _)] = await use([entry(expires_at=to_timestamp(NOW - 30 * DAY))])
    assert item.status == ContentStatus.CONTENT_STATUS_EXPIRED
    kinds = [(published(e).kind, from_timestamp(published(e).occurred_at), published(e).imported) for e in store.events]
    assert kinds == [
        (ContentPublished.KIND_PUBLISHED, NOW - 60 * DAY, True),
        (ContentPublished.KIND_EXPIRED, NOW - 30 * DAY, True),
    ]


@pytest.mark.parametrize(
    ("entries", "match"),
    [
        ([entry(published=NOW + DAY)], r"items\[0\]\.published_at: lies in the future"),
        ([entry(published=datetime(1999, 1, 1, tzinfo=UTC))], r"items\[0\]\.published_at: before 2000"),
        ([entry(published=None)], r"items\[0\]\.published_at: required"),
        ([entry(), entry("old-2", url="ftp://x")], r"items\[1\]\.item\.url: must be an absolute http"),
        ([entry(), entry("old-2", expires_at=to_timestamp(NOW - 61 * DAY))], r"items\[1\]\.item\.expires_at: .*after"),
        ([entry(), entry()], r"items\[1\]\.import_key: 'old-1' is listed twice"),
        ([entry("")], r"items\[0\]\.import_key"),
        ([], "at least one"),
        ([entry(f"k{i}") for i in range(MAX_BATCH + 1)], f"at most {MAX_BATCH}"),
    ],
)
async def test_a_bad_entry_is_named_and_nothing_is_written(entries, match):
    use, store, _ = use_case()
    with pytest.raises(InvalidArgument, match=match):
        await use(entries)
    assert not store.items and not store.events
