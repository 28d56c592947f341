"""The ledger in MongoDB: a sink of `points-awarded`, one document per entry (`_id` = entry id).

Written in bulk by the ledger-sink agent, idempotently (a redelivered entry is a duplicate `_id`,
ignored); read by `ListLedger`, audits and exports. Balances and leaderboards never read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pymongo
from advocacy.rewards.v1.rewards_pb2 import LedgerEntry
from prometheus_client import Counter
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.common.events import from_timestamp, to_timestamp
from services.common.mongo import duplicate_indexes
from services.rewards.domain.account import entry_id, ledger_document

POINTS_AWARDED = Counter(
    "advocacy_rewards_points_awarded_total", "Points granted by new ledger entries, by rule.", ["rule"]
)
POINTS_REDEEMED = Counter("advocacy_rewards_points_redeemed_total", "Points debited by redemptions.")
# `balance` reads all the advocate's entries (FerretDB scans the whole ledger for them): a
# deadline of its own instead of the client's socket timeout.
BALANCE_SECONDS = 120.0


class LedgerRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["ledger"]

    async def ensure_indexes(self) -> None:
        # ListLedger's sort key, `_id` included so a page is a range of the index.
        await self.collection.create_index(
            [("advocate_id", ASCENDING), ("occurred_at", DESCENDING), ("_id", DESCENDING)]
        )

    async def insert(self, entries: Sequence[dict]) -> int:
        """Stores the entries whose `_id` is new in one unordered bulk insert; returns how many were new."""
        if not entries:
            return 0
        duplicates: set[int] = set()
        try:
            await self.collection.insert_many(list(entries), ordered=False)
        except BulkWriteError as exc:
            duplicates = duplicate_indexes(exc)
        new = [e for i, e in enumerate(entries) if i not in duplicates]
        _count_points(new)
        return len(new)

    async def balance(self, advocate_id: str) -> tuple[int, int]:
        """(points, entries) summed from the ledger itself (an audit: FerretDB scans for it)."""
        points = entries = 0
        with pymongo.timeout(BALANCE_SECONDS):
            async for doc in self.collection.find({"advocate_id": advocate_id}, {"points": 1, "_id": 0}):
                points += int(doc["points"])
                entries += 1
        return points, entries

    async def history(self, advocate_id: str, limit: int, after: tuple[datetime, str] | None = None) -> list[dict]:
        """Newest first on (occurred_at, _id), the entries after `after` (the last one of a page):
        keyset pages, stable while entries arrive."""
        query: dict[str, Any] = {"advocate_id": advocate_id}
        if after is not None:
            at, entry = after
            query["$or"] = [{"occurred_at": {"$lt": at}}, {"occurred_at": at, "_id": {"$lt": entry}}]
        cursor = self.collection.find(query).sort([("occurred_at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        return [doc async for doc in cursor]


def entry_message(doc: dict) -> LedgerEntry:
    return LedgerEntry(
        entry_id=doc["_id"],
        advocate_id=doc["advocate_id"],
        points=int(doc["points"]),
        rule=doc["rule"],
        rule_set_version=int(doc["rule_set_version"]),
        source_event_id=doc["source_event_id"],
        campaign_id=doc.get("campaign_id", ""),
        occurred_at=to_timestamp(doc["occurred_at"]),
        content_id=doc.get("content_id", ""),
        capped_points=int(doc.get("capped", 0)),
        team=doc.get("team", ""),
        leader=bool(doc.get("leader", False)),
        local_day=doc.get("local_day", ""),
        units=int(doc.get("units", 1)),
    )


def entry_document(entry: LedgerEntry) -> dict:
    """The ledger document of an announced entry (`entry_message` reversed)."""
    return ledger_document(
        source_event_id=entry.source_event_id,
        rule=entry.rule,
        advocate_id=entry.advocate_id,
        points=entry.points,
        rule_set_version=entry.rule_set_version,
        campaign_id=entry.campaign_id,
        content_id=entry.content_id,
        occurred_at=from_timestamp(entry.occurred_at),
        capped=entry.capped_points,
        team=entry.team,
        leader=entry.leader,
        local_day=entry.local_day,
        units=entry.units,
    )


def _count_points(inserted: list[dict]) -> None:
    """Business counters of newly written ledger entries (a replay inserts nothing, counts nothing)."""
    for entry in inserted:
        points = int(entry.get("points", 0))
        if points > 0:
            POINTS_AWARDED.labels(entry.get("rule", "")).inc(points)
        elif points < 0:
            POINTS_REDEEMED.inc(-points)


__all__ = ["LedgerRepository", "entry_document", "entry_id", "entry_message", "ledger_document"]
