"""The content repository on real FerretDB: change records are atomic claims, and a change whose
writer died before projecting it is finished by the next writer or by the repair pass."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from advocacy.content.v1.content_pb2 import ContentItem, ContentStatus
from pymongo import AsyncMongoClient

from services.common.events import utcnow
from services.common.outbox import OutboxEvent
from services.content.adapters.repository import ContentRepository, version_id


def draft(content_id: str) -> ContentItem:
    return ContentItem(
        content_id=content_id, title="t", url="https://e.x", status=ContentStatus.CONTENT_STATUS_DRAFT, version=1
    )


def next_version(item: ContentItem, title: str) -> ContentItem:
    new = ContentItem()
    new.CopyFrom(item)
    new.version = item.version + 1
    new.title = title
    return new


async def test_of_many_concurrent_writers_of_one_version_exactly_one_wins(isolated):
    mongo = AsyncMongoClient(isolated.stack.mongo_url, tz_aware=True)
    repo = ContentRepository(mongo[isolated.database])
    await repo.ensure_indexes()
    item = draft("c1")
    await repo.insert(item)
    events = [[OutboxEvent(f"e{i}", "topic", "c1", b"v")] for i in range(20)]
    results = await asyncio.gather(
        *(repo.replace(next_version(item, f"w{i}"), 1, events[i], item.status) for i in range(20))
    )
    assert results.count(True) == 1
    winner = results.index(True)
    assert (await repo.get("c1")).title == f"w{winner}"
    records = [r async for r in repo.versions.find({"content_id": "c1"})]
    assert [[e["event_id"] for e in r["outbox"]] for r in records] == [[f"e{winner}"]]
    await mongo.close()


async def test_a_change_recorded_but_not_projected_is_finished(isolated):
    mongo = AsyncMongoClient(isolated.stack.mongo_url, tz_aware=True)
    repo = ContentRepository(mongo[isolated.database])
    await repo.ensure_indexes()
    for content_id in ("lost-a", "lost-b"):
        await repo.insert(draft(content_id))
        # A writer recorded version 2 and died before projecting it.
        orphan = next_version(draft(content_id), "recorded")
        await repo.versions.insert_one(
            {
                "_id": version_id(content_id, 2),
                "content_id": content_id,
                "version": 2,
                "item": orphan.SerializeToString(),
                "recorded_at": utcnow() - timedelta(seconds=30),
                "outbox": [],
            }
        )
    # The next writer of "lost-a" loses the claim, finishes the orphan, and may retry from it.
    assert not await repo.replace(next_version(draft("lost-a"), "late"), 1, [])
    assert (await repo.get("lost-a")).title == "recorded"
    # "lost-b" has no other writer: the repair pass projects it.
    assert (await repo.get("lost-b")).version == 1
    assert await repo.repair(utcnow(), timedelta(seconds=5), timedelta(hours=1)) == 1
    assert (await repo.get("lost-b")).title == "recorded"
    assert await repo.repair(utcnow(), timedelta(seconds=5), timedelta(hours=1)) == 0
    await mongo.close()
