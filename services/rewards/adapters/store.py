"""Redemption outcomes, leaderboard documents, catalogue, rule sets and campaigns in MongoDB.

Read by `_id` and written by one writer per document (the advocate's partition owner), or
arbitrated by a unique `_id` on insert: FerretDB (our local server) does not make conditional
updates atomic (twelve concurrent `find_one_and_update({stock: {$gte: 1}}, {$inc: {stock: -1}})`
on a stock of 5 all succeed). Stock: one `stock_claims` document per unit taken,
`_id = "<item>:<unit number>"`, unit numbers below the item's capacity, so at most `capacity`
claims exist and stock never goes below zero; a claim carries its redemption's key.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.common.mongo import duplicate_indexes, only_duplicates, upsert_by_id
from services.common.retry import retrying
from services.rewards.domain.rules import DEFAULT_RULES, Campaign, RuleSet

UPSERT_CHUNK = 20  # updates per bulk: a bulk of N updates holds ~N+1 pooled connections on FerretDB


async def _upsert_chunked(collection: AsyncCollection, ops: Sequence[UpdateOne]) -> None:
    """Unordered bulk upserts by `_id`, a chunk at a time."""
    for n in range(0, len(ops), UPSERT_CHUNK):
        await _upsert_chunk(collection, ops[n : n + UPSERT_CHUNK])


async def _upsert_chunk(collection: AsyncCollection, chunk: Sequence[UpdateOne]) -> None:
    pending = list(chunk)

    async def write() -> None:
        nonlocal pending
        try:
            await collection.bulk_write(pending, ordered=False)
        except BulkWriteError as exc:
            if only_duplicates(exc):
                pending = [pending[i] for i in sorted(duplicate_indexes(exc))]
            raise

    # Two first upserts of one `_id` (a previous owner's late write): the losers apply once more,
    # at once (the document exists now); any other refusal is raised.
    await retrying(
        retry_on=only_duplicates, event="upsert_duplicate_retry", first_seconds=0, attempts=2, log_level="info"
    )(write)


class LeaderboardDocuments:
    """Each partition's part of each board (services/rewards/domain/leaderboards.py), by `_id`;
    written only by the partition's owner."""

    def __init__(self, db: AsyncDatabase, partitions: int) -> None:
        self.collection = db["leaderboards"]
        self.partitions = partitions

    async def write(self, documents: Sequence[dict]) -> None:
        # `$set`, not a replacement: FerretDB's bulk replies to replacements lack `nModified`.
        ops = [
            UpdateOne({"_id": d["_id"]}, {"$set": {k: v for k, v in d.items() if k != "_id"}}, upsert=True)
            for d in documents
        ]
        await _upsert_chunked(self.collection, ops)

    async def read(self, board_id: str) -> list[dict | None]:
        """The board's document of every partition (None where it has no rows)."""
        ids = [f"{board_id}:{p}" for p in range(self.partitions)]
        return list(await asyncio.gather(*(self.collection.find_one({"_id": i}) for i in ids)))


class RedemptionOutcomes:
    """The award agent's decision on each redemption, `_id` = its key; `Redeem` waits for it."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["redemptions"]

    async def record(self, outcomes: Sequence[dict]) -> None:
        if not outcomes:
            return
        try:
            await self.collection.insert_many(list(outcomes), ordered=False)
        except BulkWriteError as exc:
            duplicate_indexes(exc)  # recorded by a run that crashed before its state was written

    async def get(self, key: str) -> dict | None:
        return await self.collection.find_one({"_id": key})


class CatalogRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["catalog"]
        self.claims = db["stock_claims"]

    async def ensure_indexes(self) -> None:
        await self.claims.create_index([("item_id", ASCENDING)])
        await self.claims.create_index([("key", ASCENDING)])

    async def _claimed(self, item_id: str) -> int:
        return await self.claims.count_documents({"item_id": item_id})

    async def upsert(self, item_id: str, name: str, cost: int, stock: int) -> dict:
        """Sets the item and makes `stock` units available from now (capacity = claimed + stock)."""
        capacity = await self._claimed(item_id) + stock
        await upsert_by_id(self.collection, item_id, {"$set": {"name": name, "cost": cost, "capacity": capacity}})
        item = await self.get(item_id)
        assert item is not None
        return item

    async def get(self, item_id: str) -> dict | None:
        doc = await self.collection.find_one({"_id": item_id})
        if doc is not None:
            doc["stock"] = max(int(doc["capacity"]) - await self._claimed(item_id), 0)
        return doc

    async def list(self, limit: int, after: str = "") -> list[dict]:
        """Items by `_id`, the first `limit` after `after`."""
        query = {"_id": {"$gt": after}} if after else {}
        ids = [d["_id"] async for d in self.collection.find(query, {"_id": 1}).sort("_id", 1).limit(limit)]
        return [d for d in [await self.get(i) for i in ids] if d is not None]

    async def take_one(self, item_id: str, key: str) -> str | None:
        """Claims one free unit (unique insert); its claim id, or None when none is left."""
        item = await self.collection.find_one({"_id": item_id})
        if item is None:
            return None
        taken = {int(d["unit"]) async for d in self.claims.find({"item_id": item_id}, {"unit": 1})}
        for unit in range(int(item["capacity"])):
            if unit in taken:
                continue
            claim_id = f"{item_id}:{unit}"
            try:
                await self.claims.insert_one({"_id": claim_id, "item_id": item_id, "unit": unit, "key": key})
                return claim_id
            except DuplicateKeyError:
                continue  # a concurrent redemption took this unit; try the next
        return None

    async def claim(self, item_id: str, key: str) -> str | None:
        """The unit redemption `key` holds (a re-evaluation after a crash finds it), else a new one."""
        doc = await self.claims.find_one({"key": key}, {"_id": 1})
        return str(doc["_id"]) if doc is not None else await self.take_one(item_id, key)


class RuleSetRepository:
    """Versions are immutable documents; the newest version is the active one."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["rule_sets"]

    async def active(self) -> RuleSet | None:
        doc = await self.collection.find_one({}, sort=[("_id", -1)])
        if doc is None:
            return None
        doc["version"] = doc.pop("_id")
        doc.pop("created_at", None)
        return RuleSet.from_doc(doc)

    async def put(self, rules: RuleSet) -> RuleSet:
        rules.validate()
        # Two admins at once: the unique _id decides, the loser takes the next number (at once).
        policy = retrying(
            retry_on=DuplicateKeyError, event="rule_set_version_taken", first_seconds=0, attempts=20, log_level="info"
        )
        try:
            return await policy(self._insert_next, rules)
        except DuplicateKeyError:
            raise RuntimeError("rule set version contention") from None

    async def _insert_next(self, rules: RuleSet) -> RuleSet:
        current = await self.active()
        version = (current.version if current else 1) + 1
        doc = {**rules.to_doc(), "created_at": datetime.now(UTC)}
        doc.pop("version")
        await self.collection.insert_one({"_id": version, **doc})
        return RuleSet.from_doc({**rules.to_doc(), "version": version})


class CampaignRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["campaigns"]

    async def upsert(self, campaign: Campaign) -> None:
        await upsert_by_id(
            self.collection,
            campaign.campaign_id,
            {"$set": {"starts_at": campaign.starts_at, "ends_at": campaign.ends_at, "multiplier": campaign.multiplier}},
        )

    async def all(self) -> dict[str, Campaign]:
        return {
            d["_id"]: Campaign(d["_id"], d["starts_at"], d["ends_at"], float(d["multiplier"]))
            async for d in self.collection.find({})
        }


@dataclass
class RulesCache:
    """The active rule set and the campaigns, re-read at most every `refresh_seconds` (no deploy needed)."""

    rule_sets: RuleSetRepository
    campaigns: CampaignRepository
    refresh_seconds: float = 5.0
    _rules: RuleSet | None = None
    _campaigns: dict[str, Campaign] | None = None
    _loaded_at: float = 0.0

    async def _refresh(self) -> None:
        if self._rules is None or time.monotonic() - self._loaded_at > self.refresh_seconds:
            self._rules = await self.rule_sets.active() or DEFAULT_RULES
            self._campaigns = await self.campaigns.all()
            self._loaded_at = time.monotonic()

    async def rules(self) -> RuleSet:
        await self._refresh()
        assert self._rules is not None
        return self._rules

    async def campaign(self, campaign_id: str) -> Campaign | None:
        if not campaign_id:
            return None
        await self._refresh()
        assert self._campaigns is not None
        return self._campaigns.get(campaign_id)
