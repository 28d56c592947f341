"""Wallets, catalogue, rule sets and campaigns in MongoDB.

FerretDB (our local server) does not make conditional updates atomic: twelve concurrent
`find_one_and_update({stock: {$gte: 1}}, {$inc: {stock: -1}})` on a stock of 5 all succeed (measured).
What both FerretDB and MongoDB do enforce atomically is a unique index on insert. So every write
that must not race is an INSERT that a unique index arbitrates:

- Wallet: an append-only chain per advocate, `wallet_log` documents `_id = "<advocate>:<seq>"`
  carrying the change (`delta`), its idempotency `key` (unique index) and the resulting `balance`.
  A change reads the last link and inserts link `seq + 1`; if another writer took that seq, it
  re-reads and tries again; if its key is already in the chain, it was applied before. A debit is
  only inserted when the last balance covers it, so no balance can ever go negative, exactly,
  whichever process (Faust agent or API) writes.
- Stock: one `stock_claims` document per unit taken, `_id = "<item>:<unit number>"`, unit numbers
  below the item's capacity; at most `capacity` claims can exist, so stock never goes below zero.
  Giving a unit back deletes its claim. A claim carries its redemption's key, so a retry or the
  recovery sweep finds it (services/rewards/adapters/redemption.py).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.common.mongo import duplicate_indexes, upsert_by_id
from services.rewards.domain.rules import DEFAULT_RULES, Campaign, RuleSet


class Overdraft(Exception):
    pass


@dataclass(frozen=True)
class Head:
    """A wallet chain's last link: its seq, the balance, and the source offsets credited so far."""

    seq: int
    balance: int
    credited: dict[str, int]


@dataclass(frozen=True)
class EventCredit:
    """One source event's points, identified by its partition ("<topic>/<partition>") and offset."""

    source: str
    offset: int
    points: int


class DayTotalsRepository:
    """Points granted per advocate, local day and event key, in `day_points`.

    Written only by the award agent, which owns the advocate's partition (a single writer). The
    agent reserves an event's points here BEFORE it writes the ledger entries, so no other event
    can ever see less than the ledger holds, and the daily cap stays exact across crashes; a replay
    of the same key overrides its reservation instead of adding to it.

    The single writer keeps every reservation in memory (read once with one scan after start and
    after each rebalance). A flush writes ONE document per advocate and day with the batch's
    reservations for it, all in one bulk insert: `_id = "<advocate>|<day>|<seq>"`,
    `reservations: [{key, points}, ...]` (FerretDB refuses nested arrays). So the daily cap costs
    no round trip per event and a fraction of the documents (FerretDB's single SQLite writer pays
    per document). A later document overrides an earlier one's key: `seq` orders them
    (nanoseconds since the epoch, strictly increasing within a process; a partition's next owner
    starts after its previous one stopped). Inserts only: FerretDB 1.24 stalls on multi-statement
    upserts (measured: an unordered bulk of 60 `$set` upserts on existing documents timed out).
    """

    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["day_points"]
        self._cache: dict[str, dict[str, int]] | None = None
        self._pending: dict[str, dict[str, int]] = {}  # "<advocate>|<day>" -> key -> points
        self._last_seq = 0

    def forget(self) -> None:
        """Another worker may have written while we did not own a partition: read again."""
        self._cache = None
        self._pending = {}

    async def load(self) -> None:
        if self._cache is not None:
            return
        docs = [d async for d in self.collection.find({}, {"ad": 1, "seq": 1, "reservations": 1})]
        cache: dict[str, dict[str, int]] = {}
        for doc in sorted(docs, key=lambda d: int(d["seq"])):
            cache.setdefault(doc["ad"], {}).update((r["key"], int(r["points"])) for r in doc["reservations"])
        self._cache = cache

    def _applied(self, advocate_id: str, day: str) -> dict[str, int]:
        assert self._cache is not None, "load() first"
        return self._cache.setdefault(f"{advocate_id}|{day}", {})

    def reserved(self, advocate_id: str, day: str, key: str) -> bool:
        """Whether `key` holds a reservation (made before its ledger write, maybe by a crashed run)."""
        return key in self._applied(advocate_id, day)

    def others(self, advocate_id: str, day: str, key: str) -> int:
        return sum(v for k, v in self._applied(advocate_id, day).items() if k != key)

    def reserve(self, advocate_id: str, day: str, key: str, points: int) -> None:
        """Reserves in memory; `flush` writes it (before the ledger write that it guards)."""
        self._applied(advocate_id, day)[key] = points
        self._pending.setdefault(f"{advocate_id}|{day}", {})[key] = points

    def _next_seq(self) -> int:
        self._last_seq = max(time.time_ns(), self._last_seq + 1)
        return self._last_seq

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        if not pending:
            return
        seq = self._next_seq()
        docs = [
            {
                "_id": f"{ad}|{seq}",
                "ad": ad,
                "seq": seq,
                "reservations": [{"key": k, "points": p} for k, p in keys.items()],
            }
            for ad, keys in pending.items()
        ]
        await self.collection.insert_many(docs, ordered=False)


def _field(key: str) -> str:
    # Keys become field names: no "." and no leading "$".
    return key.replace(".", "_").replace("$", "_")


class WalletRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["wallet_log"]
        # A hint of each chain's last seq: lookups by `_id` only (FerretDB scans for sorted finds).
        self.heads = db["wallet_heads"]
        # This process's last known head per advocate: the next link is tried directly; a stale
        # guess only costs a duplicate-key error and a fresh read.
        self._known: dict[str, Head] = {}

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("key", ASCENDING)], unique=True)
        await self.collection.create_index([("advocate_id", ASCENDING), ("seq", DESCENDING)])
        await self.collection.create_index([("settled", ASCENDING)])

    async def head(self, advocate_id: str) -> Head:
        """The advocate's last link: (seq, balance, credited offsets); (0, 0, {}) before the first."""
        hint = await self.heads.find_one({"_id": advocate_id})
        seq = int(hint["seq"]) if hint else 0
        link = await self.collection.find_one({"_id": _link_id(advocate_id, seq)}) if seq else None
        while True:  # the hint may lag behind the chain: walk forward to the real end
            nxt = await self.collection.find_one({"_id": _link_id(advocate_id, seq + 1)})
            if nxt is None:
                break
            seq, link = seq + 1, nxt
        if link is None:
            return Head(0, 0, {})
        return Head(seq, int(link["balance"]), {k: int(v) for k, v in link.get("credited", {}).items()})

    async def latest(self, advocate_id: str) -> tuple[int, int]:
        """(seq, balance) of the advocate's last link; (0, 0) before the first."""
        h = await self.head(advocate_id)
        return h.seq, h.balance

    def _link(self, advocate_id: str, head: Head, key: str, delta: int, credited: dict[str, int]) -> dict:
        link = {
            "_id": _link_id(advocate_id, head.seq + 1),
            "advocate_id": advocate_id,
            "seq": head.seq + 1,
            "key": key,
            "delta": delta,
            "balance": head.balance + delta,
        }
        if credited:  # carried forward by every link, so the last link always holds it
            link["credited"] = credited
        return link

    def _linked(self, advocate_id: str, link: dict) -> list[tuple[str, int]]:
        credited = {k: int(v) for k, v in link.get("credited", {}).items()}
        self._known[advocate_id] = Head(link["seq"], link["balance"], credited)
        if link["seq"] % 8 == 0:  # the hint may lag a few links; readers walk forward
            return [(advocate_id, link["seq"])]
        return []

    async def _hint(self, hints: list[tuple[str, int]]) -> None:
        # One update each: FerretDB 1.24 stalls on multi-statement upserts (see DayTotalsRepository).
        await asyncio.gather(*(upsert_by_id(self.heads, a, {"$max": {"seq": seq}}) for a, seq in hints))

    async def apply(self, advocate_id: str, key: str, delta: int, extra: dict | None = None) -> bool:
        """Appends one change unless `key` was applied before (then False). Raises Overdraft if a
        debit is not covered by the balance."""
        guess = self._known.pop(advocate_id, None)
        while True:
            head = guess if guess is not None else await self.head(advocate_id)
            guess = None
            if head.balance + delta < 0:
                if await self.collection.find_one({"key": key}, {"_id": 1}):
                    return False
                raise Overdraft(advocate_id)
            link = {**self._link(advocate_id, head, key, delta, head.credited), **(extra or {})}
            try:
                await self.collection.insert_one(link)
                await self._hint(self._linked(advocate_id, link))
                return True
            except DuplicateKeyError:
                if await self.collection.find_one({"key": key}, {"_id": 1}):
                    return False  # applied before (or by a concurrent retry of the same change)
                # Another writer took this seq: read the new last link and try again.

    async def credit(self, advocate_id: str, key: str, points: int) -> bool:
        return await self.apply(advocate_id, key, points)

    async def credit_events(self, credits: dict[str, list[EventCredit]]) -> int:
        """Credits a batch of source events, one link per advocate, all links in one bulk insert.

        Idempotent per source event without a key per event: every link carries `credited`, the
        highest offset credited so far per source partition. One advocate's events of one source
        partition are credited in offset order by the partition's single award agent, so an event
        at or below that offset was credited before (a redelivery) and is skipped. Returns the
        number of links written."""
        pending = dict(credits)
        written = 0
        while pending:
            missing = [a for a in pending if a not in self._known]
            for n in range(0, len(missing), 16):  # a few chains at a time: FerretDB serializes reads anyway
                chunk = missing[n : n + 16]
                for advocate_id, head in zip(chunk, await asyncio.gather(*map(self.head, chunk)), strict=True):
                    self._known[advocate_id] = head
            links: list[dict] = []
            for advocate_id, items in pending.items():
                head = self._known[advocate_id]
                # Sources become field names: no "." and no leading "$".
                todo = [c for c in items if c.offset > head.credited.get(_field(c.source), -1)]
                delta = sum(c.points for c in todo)
                if not delta:
                    continue
                credited = dict(head.credited)
                for c in todo:
                    credited[_field(c.source)] = max(c.offset, credited.get(_field(c.source), -1))
                seq = head.seq + 1
                links.append(self._link(advocate_id, head, f"credit:{advocate_id}:{seq}", delta, credited))
            failed: set[int] = set()
            if links:
                try:
                    await self.collection.insert_many(links, ordered=False)
                except BulkWriteError as exc:
                    failed = duplicate_indexes(exc)
            hints: list[tuple[str, int]] = []
            retry: dict[str, list[EventCredit]] = {}
            for i, link in enumerate(links):
                advocate_id = link["advocate_id"]
                if i in failed:  # another writer (a redemption) took this seq: read the chain again
                    self._known.pop(advocate_id, None)
                    retry[advocate_id] = pending[advocate_id]
                else:
                    written += 1
                    hints += self._linked(advocate_id, link)
            await self._hint(hints)
            pending = retry
        return written

    async def balance(self, advocate_id: str) -> int:
        return (await self.head(advocate_id)).balance

    async def link(self, key: str) -> dict | None:
        return await self.collection.find_one({"key": key})

    async def mark_settled(self, key: str) -> None:
        await self.collection.update_one({"key": key}, {"$set": {"settled": True}})

    async def unsettled(self) -> list[dict]:
        return [d async for d in self.collection.find({"settled": False})]

    async def all_balances(self) -> dict[str, int]:
        latest: dict[str, tuple[int, int]] = {}
        async for d in self.collection.find({}, {"advocate_id": 1, "seq": 1, "balance": 1}):
            if d["seq"] > latest.get(d["advocate_id"], (0, 0))[0]:
                latest[d["advocate_id"]] = (int(d["seq"]), int(d["balance"]))
        return {a: b for a, (_, b) in latest.items()}


def _link_id(advocate_id: str, seq: int) -> str:
    return f"{advocate_id}:{seq:012d}"


class CatalogRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["catalog"]
        self.claims = db["stock_claims"]

    async def ensure_indexes(self) -> None:
        await self.claims.create_index([("item_id", ASCENDING)])
        await self.claims.create_index([("key", ASCENDING)])
        await self.collection.database["redemptions"].create_index([("state", ASCENDING)])

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

    async def list(self) -> list[dict]:
        ids = [d["_id"] async for d in self.collection.find({}, {"_id": 1}).sort("_id", 1)]
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

    async def put_back(self, claim_id: str) -> None:
        await self.claims.delete_one({"_id": claim_id})

    async def claim_of(self, key: str) -> str | None:
        """The unit a redemption (by key) claimed, if any: a retry resumes with it."""
        doc = await self.claims.find_one({"key": key}, {"_id": 1})
        return None if doc is None else str(doc["_id"])

    async def release(self, key: str, keep: str | None = None) -> int:
        """Gives back every unit a redemption claimed, except `keep` (the one its debit paid for)."""
        query: dict = {"key": key}
        if keep is not None:
            query["_id"] = {"$ne": keep}
        return (await self.claims.delete_many(query)).deleted_count


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
        for _ in range(20):  # two admins at once: the unique _id decides, the loser takes the next number
            current = await self.active()
            version = (current.version if current else 1) + 1
            doc = {**rules.to_doc(), "created_at": datetime.now(UTC)}
            doc.pop("version")
            try:
                await self.collection.insert_one({"_id": version, **doc})
                return RuleSet.from_doc({**rules.to_doc(), "version": version})
            except DuplicateKeyError:
                continue
        raise RuntimeError("rule set version contention")


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
