"""Feed sources in MongoDB; every read and write by `_id`, one writer per document.

- `content_sources`: a source's configuration (FeedSource without status), written only by the
  admin RPCs; the pollers list this small collection.
- `content_source_status`: what the last poll saw (SourceStatus), written only by the replica that
  won that poll's claim. Kept apart from the configuration because FerretDB does not isolate
  concurrent updates of one document: a poller's status write must not undo an admin's pause.
- `content_source_claims`: one insert per poll slot (`<source>@<due ms>/<lease period>`); the
  unique `_id` lets one replica poll a due source while the other skips it. A claim is deleted one
  poll later (a replica still holding the old status then finds it taken).
"""

from __future__ import annotations

from datetime import datetime

from advocacy.content.v1.content_pb2 import FeedSource, SourceStatus
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.common.mongo import upsert_by_id


class SourceRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self.sources = db["content_sources"]
        self.statuses = db["content_source_status"]
        self.claims = db["content_source_claims"]

    async def insert(self, source: FeedSource) -> None:
        config = FeedSource()
        config.CopyFrom(source)
        config.ClearField("status")
        await self.sources.insert_one(
            {"_id": source.source_id, "paused": source.paused, "source": config.SerializeToString()}
        )

    async def get(self, source_id: str) -> FeedSource | None:
        doc = await self.sources.find_one({"_id": source_id})
        return FeedSource.FromString(doc["source"]) if doc else None

    async def configs(self) -> list[FeedSource]:
        """Every source's configuration (a scan: sources are few, registered by hand)."""
        return [FeedSource.FromString(d["source"]) async for d in self.sources.find({}, {"source": 1})]

    async def page(self, limit: int, after: str = "") -> list[FeedSource]:
        """Configurations by `_id`, the first `limit` after `after` (ListSources' pages)."""
        query = {"_id": {"$gt": after}} if after else {}
        cursor = self.sources.find(query, {"source": 1}).sort("_id", 1).limit(limit)
        return [FeedSource.FromString(d["source"]) async for d in cursor]

    async def set_paused(self, source_id: str, paused: bool) -> FeedSource | None:
        source = await self.get(source_id)
        if source is None:
            return None
        source.paused = paused
        await self.sources.update_one(
            {"_id": source_id}, {"$set": {"paused": paused, "source": source.SerializeToString()}}
        )
        return source

    async def delete(self, source_id: str) -> bool:
        deleted = await self.sources.delete_one({"_id": source_id})
        await self.statuses.delete_one({"_id": source_id})
        return deleted.deleted_count == 1

    async def status(self, source_id: str) -> tuple[SourceStatus, str]:
        """The source's status (empty before its first poll) and the id of the claim it was written under."""
        doc = await self.statuses.find_one({"_id": source_id})
        if doc is None:
            return SourceStatus(), ""
        return SourceStatus.FromString(doc["status"]), doc.get("claim", "")

    async def save_status(self, source_id: str, status: SourceStatus, claim_id: str) -> None:
        await upsert_by_id(
            self.statuses, source_id, {"$set": {"status": status.SerializeToString(), "claim": claim_id}}
        )

    async def claim(self, claim_id: str, now: datetime) -> bool:
        try:
            await self.claims.insert_one({"_id": claim_id, "claimed_at": now})
        except DuplicateKeyError:
            return False
        return True

    async def release(self, claim_id: str) -> None:
        if claim_id:
            await self.claims.delete_one({"_id": claim_id})
