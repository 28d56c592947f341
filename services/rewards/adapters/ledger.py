"""The ledger in MongoDB: one document per (source event, rule), so a replay cannot award twice."""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

DUPLICATE_KEY = 11000


def entry_id(source_event_id: str, rule: str) -> str:
    return f"{source_event_id}:{rule}"


class LedgerRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["ledger"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("advocate_id", ASCENDING), ("occurred_at", DESCENDING)])

    async def record(self, entries: list[dict]) -> int:
        """Inserts entries whose `_id` is new; returns how many were new. Existing ids are left alone."""
        if not entries:
            return 0
        try:
            result = await self.collection.insert_many(entries, ordered=False)
            return len(result.inserted_ids)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            return int(exc.details.get("nInserted", 0))

    async def balance(self, advocate_id: str) -> tuple[int, int]:
        """(points, entries), derived from the ledger itself."""
        rows = [
            r
            async for r in await self.collection.aggregate(
                [{"$match": {"advocate_id": advocate_id}}, {"$group": {"_id": None, "points": {"$sum": "$points"}}}]
            )
        ]
        points = int(rows[0]["points"]) if rows else 0
        entries = await self.collection.count_documents({"advocate_id": advocate_id})
        return points, entries

    async def history(self, advocate_id: str, limit: int) -> list[dict]:
        cursor = self.collection.find({"advocate_id": advocate_id}).sort("occurred_at", DESCENDING).limit(limit)
        return [doc async for doc in cursor]


def ledger_document(
    *,
    source_event_id: str,
    rule: str,
    advocate_id: str,
    points: int,
    rule_set_version: int,
    campaign_id: str,
    content_id: str,
    occurred_at: datetime,
) -> dict:
    return {
        "_id": entry_id(source_event_id, rule),
        "advocate_id": advocate_id,
        "points": points,
        "rule": rule,
        "rule_set_version": rule_set_version,
        "source_event_id": source_event_id,
        "campaign_id": campaign_id,
        "content_id": content_id,
        "occurred_at": occurred_at,
    }
