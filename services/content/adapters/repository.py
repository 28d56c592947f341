"""Content items in MongoDB.

Two collections:
- `content_versions`: one document per change (`<content id>@<version>`), holding the new item and
  the events the change emits (its outbox). Inserting it IS the change: the unique `_id` lets exactly
  one of two writers that read the same version (two API calls, two scheduler replicas) succeed, and
  the events live in the same single-document write. The outbox relay drains this collection.
- `content`: the current item per id (the projection that GetContent and the queries read), written
  only by the winner of a version insert, with the fields queries filter and sort on.

Why not a conditional `update_one({_id, version})` on one document: FerretDB 1.x (SQLite) runs an
update as read, modify in Go, write back by `_id`, without isolation. Two concurrent conditional
updates both "match", and a relay's `$pullAll` can write back a stale copy over a state change
(verified: 2 of 6 concurrent edits won). Unique-`_id` inserts are atomic on FerretDB and MongoDB.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from advocacy.content.v1.content_pb2 import ContentItem, ContentStatus
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.common.events import optional_time, utcnow
from services.common.outbox import OutboxEvent, ensure_outbox_index
from services.content.app.ports import ItemExists, OutboxWritten
from services.content.domain.feed import audience_terms

# The feed ranks in memory at most this many newest targeted items (documented limit).
FEED_CANDIDATE_LIMIT = 2000


def _document(item: ContentItem) -> dict:
    audience = {
        "teams": list(item.audience.teams),
        "locations": list(item.audience.locations),
        "languages": list(item.audience.languages),
        "roles": list(item.audience.roles),
    }
    terms = audience_terms(audience)
    return {
        "status": ContentStatus.Name(item.status),
        "version": item.version,
        "publish_at": optional_time(item, "publish_at"),
        "expires_at": optional_time(item, "expires_at"),
        "published_at": optional_time(item, "published_at"),
        "campaign_id": item.campaign_id,
        "topics": list(item.topics),
        "audience": audience,
        # Normalised audience ("*" = everyone) so one `$in` per dimension selects an advocate's items.
        **{f"aud_{dim}": values for dim, values in terms.items()},
        "item": item.SerializeToString(),
    }


def status_name(status: int) -> str:
    return str(ContentStatus.Name(status))


def version_id(content_id: str, version: int) -> str:
    return f"{content_id}@{version:010d}"


def outbox_notifier(notify: Callable[[str], None]) -> OutboxWritten:
    """The relay's "send this change record now", given the changed item."""
    return lambda item: notify(version_id(item.content_id, item.version))


class ContentRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["content"]
        # The change records and their outbox: what the relay drains.
        self.versions = db["content_versions"]

    async def ensure_indexes(self) -> None:
        # Scheduler scans: approved items by publish time, published items by expiry.
        await self.collection.create_index([("status", ASCENDING), ("publish_at", ASCENDING)])
        await self.collection.create_index([("status", ASCENDING), ("expires_at", ASCENDING)])
        # Feed: published items newest first; admin listing by status, newest (highest id) first.
        await self.collection.create_index([("status", ASCENDING), ("published_at", DESCENDING)])
        await self.collection.create_index([("status", ASCENDING), ("_id", DESCENDING)])
        await ensure_outbox_index(self.versions)
        await self.versions.create_index([("recorded_at", ASCENDING)])

    async def insert(self, item: ContentItem) -> None:
        try:
            await self.collection.insert_one({"_id": item.content_id, **_document(item)})
        except DuplicateKeyError as exc:
            raise ItemExists(item.content_id) from exc

    async def insert_recorded(self, item: ContentItem, events: list[OutboxEvent]) -> bool:
        """A new item (version 1) recorded with its events: the change record first (its unique
        `_id` claims the content id and carries the outbox), then the projection. False when the
        id was recorded before; the projection is then written if that writer died before it."""
        assert item.version == 1, "a new item starts at version 1"
        created = True
        try:
            await self.versions.insert_one(self._record(item, events))
        except DuplicateKeyError:
            created = False
            record = await self.versions.find_one({"_id": version_id(item.content_id, 1)}, {"item": 1})
            if record is None:
                raise
            item = ContentItem.FromString(record["item"])
        try:
            await self.collection.insert_one({"_id": item.content_id, **_document(item)})
        except DuplicateKeyError:
            pass  # projected before (and perhaps changed since): the projection stays as it is
        return created

    def _record(self, item: ContentItem, events: list[OutboxEvent]) -> dict:
        return {
            "_id": version_id(item.content_id, item.version),
            "content_id": item.content_id,
            "version": item.version,
            "status": status_name(item.status),
            "item": item.SerializeToString(),
            "recorded_at": utcnow(),
            "outbox": [e.to_document() for e in events],
        }

    async def get(self, content_id: str) -> ContentItem | None:
        doc = await self.collection.find_one({"_id": content_id}, {"item": 1})
        return ContentItem.FromString(doc["item"]) if doc else None

    async def replace(
        self,
        item: ContentItem,
        expected_version: int,
        events: list[OutboxEvent],
        expected_status: int | None = None,
    ) -> bool:
        """Records `item` (whose version must be expected_version + 1) with its events, if nobody
        else recorded that version first; False when another writer got there first."""
        assert item.version == expected_version + 1, "a change moves the version by one"
        try:
            await self.versions.insert_one(self._record(item, events))
        except DuplicateKeyError:
            # Lost the race. If the winner died before updating the projection, finish its work.
            await self._roll_forward(item.content_id, expected_version)
            return False
        await self._project(item, expected_version, expected_status)
        return True

    async def _project(self, item: ContentItem, from_version: int, from_status: int | None = None) -> None:
        query: dict = {"_id": item.content_id, "version": from_version}
        if from_status is not None:
            query["status"] = status_name(from_status)
        await self.collection.update_one(query, {"$set": _document(item)})

    async def _roll_forward(self, content_id: str, from_version: int) -> None:
        record = await self.versions.find_one({"_id": version_id(content_id, from_version + 1)}, {"item": 1})
        if record is not None:
            await self._project(ContentItem.FromString(record["item"]), from_version)

    async def repair(self, now: datetime, settle: timedelta, window: timedelta) -> int:
        """Projects change records whose writer died between recording and projecting them.

        Looks at records from `window` ago up to `settle` ago (younger ones may still be in flight);
        an item written again later is repaired by that writer anyway (see `replace`)."""
        repaired = 0
        query = {"recorded_at": {"$gte": now - window, "$lte": now - settle}}
        cursor = self.versions.find(query, {"content_id": 1, "version": 1, "item": 1}).sort("recorded_at", ASCENDING)
        async for record in cursor:
            current = await self.collection.find_one({"_id": record["content_id"]}, {"version": 1})
            if current is not None and current["version"] == record["version"] - 1:
                await self._project(ContentItem.FromString(record["item"]), record["version"] - 1)
                repaired += 1
        return repaired

    async def due(self, now: datetime, limit: int = 200) -> list[ContentItem]:
        """Approved items whose publish time or expiry passed and published items whose expiry passed."""
        items: dict[str, ContentItem] = {}
        for query in (
            {"status": "CONTENT_STATUS_APPROVED", "publish_at": {"$lte": now}},
            {"status": {"$in": ["CONTENT_STATUS_APPROVED", "CONTENT_STATUS_PUBLISHED"]}, "expires_at": {"$lte": now}},
        ):
            async for d in self.collection.find(query, {"item": 1}).limit(limit):
                item = ContentItem.FromString(d["item"])
                items[item.content_id] = item
        return list(items.values())

    async def list_items(self, status: int, after_id: str | None, limit: int) -> list[ContentItem]:
        query: dict = {}
        if status:
            query["status"] = status_name(status)
        if after_id is not None:
            query["_id"] = {"$lt": after_id}
        cursor = self.collection.find(query, {"item": 1}).sort("_id", DESCENDING).limit(limit)
        return [ContentItem.FromString(d["item"]) async for d in cursor]

    async def feed_candidates(self, dimension_values: dict[str, str], now: datetime) -> list[ContentItem]:
        """Published, unexpired items whose audience includes these values (or everyone)."""
        query: dict = {
            "status": "CONTENT_STATUS_PUBLISHED",
            "$or": [{"expires_at": None}, {"expires_at": {"$gt": now}}],
        }
        for dim, value in dimension_values.items():
            query[f"aud_{dim}"] = {"$in": ["*", value]}
        cursor = self.collection.find(query, {"item": 1}).sort("published_at", DESCENDING).limit(FEED_CANDIDATE_LIMIT)
        return [ContentItem.FromString(d["item"]) async for d in cursor]
