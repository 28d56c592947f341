"""Content items in MongoDB.

Each document keeps the item as its protobuf bytes (lossless, one schema: `protos/`) beside the
fields that queries filter and sort on, and an outbox of events written in the same update.
"""

from __future__ import annotations

from datetime import datetime

from advocacy.content.v1.content_pb2 import ContentItem, ContentStatus
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.common.events import from_timestamp
from services.common.outbox import OutboxEvent, ensure_outbox_index


def _optional_time(item: ContentItem, field: str) -> datetime | None:
    return from_timestamp(getattr(item, field)) if item.HasField(field) else None


def _document(item: ContentItem) -> dict:
    return {
        "status": ContentStatus.Name(item.status),
        "version": item.version,
        "publish_at": _optional_time(item, "publish_at"),
        "expires_at": _optional_time(item, "expires_at"),
        "campaign_id": item.campaign_id,
        "topics": list(item.topics),
        "audience": {
            "teams": list(item.audience.teams),
            "locations": list(item.audience.locations),
            "languages": list(item.audience.languages),
            "roles": list(item.audience.roles),
        },
        "item": item.SerializeToString(),
    }


class ContentRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["content"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("status", ASCENDING), ("publish_at", ASCENDING)])
        await self.collection.create_index([("status", ASCENDING), ("expires_at", ASCENDING)])
        await ensure_outbox_index(self.collection)

    async def insert(self, item: ContentItem) -> None:
        await self.collection.insert_one({"_id": item.content_id, **_document(item), "outbox": []})

    async def get(self, content_id: str) -> ContentItem | None:
        doc = await self.collection.find_one({"_id": content_id}, {"item": 1})
        return ContentItem.FromString(doc["item"]) if doc else None

    async def replace(self, item: ContentItem, expected_version: int, events: list[OutboxEvent]) -> bool:
        """Writes `item` only if the stored version is still `expected_version`; events go in the same write."""
        update: dict = {"$set": _document(item)}
        if events:
            update["$push"] = {"outbox": {"$each": [e.to_document() for e in events]}}
        result = await self.collection.update_one({"_id": item.content_id, "version": expected_version}, update)
        return result.modified_count == 1
