"""The ledger in MongoDB: one document per (source event, rule), so a replay cannot award twice.

The ledger is the source of truth: balances and leaderboards are derived from it. When a replay
re-evaluates an event whose entries already exist, the stored entries win (`record` returns them),
so what is announced and credited is always what the ledger says.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from prometheus_client import Counter
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.common.mongo import duplicate_indexes
from services.rewards.domain.rules import REDEMPTION

READ_CONCURRENCY = 16

POINTS_AWARDED = Counter(
    "advocacy_rewards_points_awarded_total", "Points granted by new ledger entries, by rule.", ["rule"]
)
POINTS_REDEEMED = Counter("advocacy_rewards_points_redeemed_total", "Points debited by redemptions.")


def entry_id(source_event_id: str, rule: str) -> str:
    return f"{source_event_id}:{rule}"


class LedgerRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["ledger"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("advocate_id", ASCENDING), ("occurred_at", DESCENDING)])
        await self.collection.create_index([("advocate_id", ASCENDING), ("local_day", ASCENDING)])
        await self.collection.create_index([("source_event_id", ASCENDING)])
        await self.collection.create_index([("local_day", ASCENDING)])

    async def record(self, entries: list[dict]) -> list[dict]:
        """Inserts entries whose `_id` is new, in one bulk write; returns the entries as stored
        (existing ones win, read back by `_id`, the only filter FerretDB does not scan for)."""
        if not entries:
            return []
        try:
            await self.collection.insert_many(entries, ordered=False)
            _count_points(entries)
            return entries
        except BulkWriteError as exc:
            duplicates = duplicate_indexes(exc)
            _count_points([e for i, e in enumerate(entries) if i not in duplicates])
            existing = [entries[i]["_id"] for i in sorted(duplicates)]
        stored = await self.stored(existing)
        return [stored.get(e["_id"], e) for e in entries]

    async def stored(self, ids: list[str]) -> dict[str, dict]:
        """The entries among `ids` that exist, each read by `_id`."""
        found: dict[str, dict] = {}
        for n in range(0, len(ids), READ_CONCURRENCY):  # a few at a time: FerretDB serializes them anyway
            docs = await asyncio.gather(*(self.collection.find_one({"_id": i}) for i in ids[n : n + READ_CONCURRENCY]))
            found.update((d["_id"], d) for d in docs if d is not None)
        return found

    async def insert_count(self, entries: list[dict]) -> int:
        """How many of `entries` were new (a helper for tests and tools)."""
        before = await self.collection.count_documents({"_id": {"$in": [e["_id"] for e in entries]}})
        await self.record(entries)
        return len(entries) - before

    async def by_source(self, source_event_id: str) -> list[dict]:
        return [d async for d in self.collection.find({"source_event_id": source_event_id}).sort("_id", ASCENDING)]

    async def by_ids(self, ids: list[str]) -> list[dict]:
        stored = {d["_id"]: d async for d in self.collection.find({"_id": {"$in": ids}})}
        return [stored[i] for i in ids if i in stored]

    async def day_total(self, advocate_id: str, day: str) -> int:
        """Points already granted to the advocate on their local day (what the daily cap counts)."""
        rows = [
            r
            async for r in await self.collection.aggregate(
                [
                    {"$match": {"advocate_id": advocate_id, "local_day": day}},
                    {"$group": {"_id": None, "points": {"$sum": "$points"}}},
                ]
            )
        ]
        return int(rows[0]["points"]) if rows else 0

    async def balance(self, advocate_id: str) -> tuple[int, int]:
        """(points, entries), derived from the ledger itself: one projected find, summed here. A
        cursor, not one aggregate command: FerretDB scans the collection for it, and each batch is
        a round trip of its own within the client's socket timeout however large the ledger."""
        points = entries = 0
        async for doc in self.collection.find({"advocate_id": advocate_id}, {"points": 1, "_id": 0}):
            points += int(doc["points"])
            entries += 1
        return points, entries

    async def all_balances(self) -> dict[str, int]:
        rows = self.collection.aggregate([{"$group": {"_id": "$advocate_id", "points": {"$sum": "$points"}}}])
        return {r["_id"]: int(r["points"]) async for r in await rows}

    async def history(self, advocate_id: str, limit: int) -> list[dict]:
        cursor = self.collection.find({"advocate_id": advocate_id}).sort("occurred_at", DESCENDING).limit(limit)
        return [doc async for doc in cursor]

    async def award_totals(
        self,
        group: dict | str,
        first_day: str | None = None,
        last_day: str | None = None,
        match: dict | None = None,
    ) -> list[dict]:
        """Sums of awarded points (redemptions excluded) grouped by `group`, within [first, last] days."""
        query: dict = {"rule": {"$ne": REDEMPTION}, **(match or {})}
        if first_day is not None and last_day is not None:
            query["local_day"] = {"$gte": first_day, "$lte": last_day}
        pipeline = [{"$match": query}, {"$group": {"_id": group, "points": {"$sum": "$points"}}}]
        return [r async for r in await self.collection.aggregate(pipeline)]

    async def advocate_entries(self, advocate_id: str, rules: list[str]) -> list[dict]:
        cursor = self.collection.find(
            {"advocate_id": advocate_id, "rule": {"$in": rules}},
            {"rule": 1, "local_day": 1, "units": 1, "leader": 1, "points": 1},
        )
        return [d async for d in cursor]


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
    capped: int = 0,
    team: str = "",
    leader: bool = False,
    local_day: str = "",
    units: int = 1,
) -> dict:
    return {
        "_id": entry_id(source_event_id, rule),
        "advocate_id": advocate_id,
        "points": points,
        "capped": capped,
        "rule": rule,
        "rule_set_version": rule_set_version,
        "source_event_id": source_event_id,
        "campaign_id": campaign_id,
        "content_id": content_id,
        "occurred_at": occurred_at,
        "team": team,
        "leader": leader,
        "local_day": local_day,
        "units": units,
    }


def _count_points(inserted: list[dict]) -> None:
    """Business counters of newly written ledger entries (a replay inserts nothing, counts nothing)."""
    for entry in inserted:
        points = int(entry.get("points", 0))
        if points > 0:
            POINTS_AWARDED.labels(entry.get("rule", "")).inc(points)
        elif points < 0:
            POINTS_REDEEMED.inc(-points)
