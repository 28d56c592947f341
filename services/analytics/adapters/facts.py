"""The analytics materialized views in MongoDB.

Exactly-once effect without transactions: every consumed event becomes at most one fact document
whose `_id` is the event id (a redelivered event hits the unique `_id` and changes nothing), and
every figure is derived from the facts when asked (`$match` + `$group`/`$sum` on the server, or a
projected scan summed here: see `grouped`). No counter is ever
incremented, so redelivery, a crash between two writes, or a replay from offset 0 cannot double
anything. Each fact carries its hourly and daily window start, so a window is a `$group` key.

Other views: `advocates` and `contents` keep the latest state per id (older or repeated states are
ignored by a conditional upsert), `click_keys` assigns each unique-click slot to the one event that
claimed it first (a redelivery of that event finds itself the owner again), and `reach_keys` assigns
each (item, advocate, network) triple to its first share event the same way: only that share's
fact carries the audience as potential reach.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.analytics.app.ports import Comment, ContentState, Grouped
from services.analytics.domain.audience import AudienceRule, Period
from services.analytics.domain.metrics import COUNTER_FIELDS, Group, Totals
from services.analytics.domain.report import Member
from services.analytics.domain.windows import Granularity
from services.common.mongo import duplicate_indexes

_BUCKET_FIELD = {Granularity.HOUR: "$hour", Granularity.DAY: "$day", Granularity.ALL_TIME: None}


def _aware(at: datetime | None) -> datetime | None:
    """Window starts are stored in UTC; a client without tz_aware returns them naive."""
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def _in_range(match: Mapping[str, Any], start: datetime | None, end: datetime | None) -> dict[str, Any]:
    """`match` and occurred_at in [start, end) (an open bound unset)."""
    query: dict[str, Any] = dict(match)
    time: dict[str, Any] = {}
    if start is not None:
        time["$gte"] = start
    if end is not None:
        time["$lt"] = end
    if time:
        query["occurred_at"] = time
    return query


class AnalyticsRepository:
    """The fact store (`FactReader` and `FactWriter` of the use cases)."""

    def __init__(self, db: AsyncDatabase, group_in_database: bool = False) -> None:
        # True: `$group` on the server (MongoDB); False: group a projected scan here (FerretDB).
        self._group_in_database = group_in_database
        self.facts = db["facts"]
        self.advocates = db["advocates"]
        self.contents = db["contents"]
        self.click_keys = db["click_keys"]
        self.reach_keys = db["reach_keys"]

    async def ensure_indexes(self) -> None:
        for field in ("content_id", "advocate_id", "team", "campaign_id", "network"):
            await self.facts.create_index([(field, ASCENDING), ("occurred_at", ASCENDING)])
        await self.facts.create_index([("occurred_at", ASCENDING)])

    # --- writes (all idempotent) ---

    async def record_fact(self, doc: dict[str, Any]) -> bool:
        """Stores one event's fact; False when it was already stored (a redelivery)."""
        return (await self.record_facts([doc]))[0]

    async def record_facts(self, docs: list[dict[str, Any]]) -> list[bool]:
        """Stores facts in one unordered bulk insert; per fact, False when it was already stored."""
        if not docs:
            return []
        try:
            await self.facts.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            duplicates = duplicate_indexes(exc)
            return [i not in duplicates for i in range(len(docs))]
        return [True] * len(docs)

    async def claim_click(self, key: str, event_id: str) -> bool:
        """True when `event_id` owns this unique-click slot (first claim, or a redelivery of the owner)."""
        return (await self.claim_clicks([(key, event_id)]))[key] == event_id

    async def claim_clicks(self, claims: list[tuple[str, str]]) -> dict[str, str]:
        """The owning event id of each unique-click slot: the first claim ever (in `claims` order
        within a batch) owns it."""
        return await self._claim(self.click_keys, claims)

    async def claim_reach(self, claims: list[tuple[str, str]]) -> dict[str, str]:
        """The owning (first) share event id of each (item, advocate, network) `reach_key`: the
        first claim ever (in `claims` order within a batch) owns it, forever."""
        return await self._claim(self.reach_keys, claims)

    @staticmethod
    async def _claim(collection: Any, claims: list[tuple[str, str]]) -> dict[str, str]:
        """key -> owning event id. One bulk insert; keys taken before are read back by `_id`, so a
        redelivered owner finds itself the owner again."""
        first: dict[str, str] = {}
        for key, event_id in claims:
            first.setdefault(key, event_id)
        if not first:
            return {}
        docs = [{"_id": key, "event_id": event_id} for key, event_id in first.items()]
        try:
            await collection.insert_many(docs, ordered=False)
            return first
        except BulkWriteError as exc:
            taken = [docs[i]["_id"] for i in sorted(duplicate_indexes(exc))]
        found = await asyncio.gather(*(collection.find_one({"_id": key}) for key in taken))
        for key, doc in zip(taken, found, strict=True):
            if doc is not None:
                first[key] = doc["event_id"]
        return first

    async def _upsert_latest(self, collection: Any, key: str, version_at: datetime, fields: dict[str, Any]) -> bool:
        """Keeps the newest state per key: an older or repeated state matches no document, its upsert
        collides with the existing `_id`, and nothing changes."""
        try:
            await collection.update_one(
                {"_id": key, "version_at": {"$lt": version_at}},
                {"$set": {**fields, "version_at": version_at}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True

    async def upsert_advocate(self, state: Member, version_at: datetime) -> bool:
        return await self._upsert_latest(
            self.advocates,
            state.advocate_id,
            version_at,
            {
                "team": state.team,
                "location": state.location,
                "language": state.language,
                "role": state.role,
                "leader": state.leader,
                "enrolments": [{"enrolled_at": p.enrolled_at, "left_at": p.left_at} for p in state.periods],
            },
        )

    async def upsert_content(self, state: ContentState, version_at: datetime) -> bool:
        a = state.audience
        return await self._upsert_latest(
            self.contents,
            state.content_id,
            version_at,
            {
                "author_id": state.author_id,
                "campaign_id": state.campaign_id,
                "title": state.title,
                "audience": {
                    "teams": list(a.teams),
                    "locations": list(a.locations),
                    "languages": list(a.languages),
                    "roles": list(a.roles),
                },
            },
        )

    # --- reads ---

    async def all_advocates(self) -> list[Member]:
        return [
            Member(
                advocate_id=d["_id"],
                team=d.get("team", ""),
                location=d.get("location", ""),
                language=d.get("language", ""),
                role=d.get("role", ""),
                leader=bool(d.get("leader")),
                periods=tuple(Period(p["enrolled_at"], p.get("left_at")) for p in d.get("enrolments", [])),
            )
            async for d in self.advocates.find({})
        ]

    async def content(self, content_id: str) -> ContentState | None:
        d = await self.contents.find_one({"_id": content_id})
        if d is None:
            return None
        a = d.get("audience", {})
        return ContentState(
            content_id=d["_id"],
            author_id=d.get("author_id", ""),
            campaign_id=d.get("campaign_id", ""),
            title=d.get("title", ""),
            audience=AudienceRule(
                tuple(a.get("teams", [])),
                tuple(a.get("locations", [])),
                tuple(a.get("languages", [])),
                tuple(a.get("roles", [])),
            ),
        )

    async def grouped(
        self,
        match: Mapping[str, Any],
        granularity: Granularity,
        start: datetime | None,
        end: datetime | None,
        by: str | None = None,
    ) -> Grouped:
        """Groups facts per (window start, `by` field) and leader flag, from the facts alone.

        Windowed granularities leave out facts that arrived too late for their windows."""
        query = _in_range(match, start, end)
        if granularity is not Granularity.ALL_TIME:
            query["too_late"] = False
        group_id: dict[str, Any] = {"a": "$advocate_id", "n": "$network", "l": "$leader"}
        bucket = _BUCKET_FIELD[granularity]
        if bucket:
            group_id["b"] = bucket
        if by:
            group_id["k"] = f"${by}"
        if self._group_in_database:
            counters, ids = await self._group_on_server(query, group_id)
        else:
            counters, ids = await self._group_here(query, group_id)
        out: Grouped = {}
        for k, gid in ids.items():
            totals = Totals(**counters[k])
            key = (_aware(gid.get("b")), gid.get("k", "") if by else "")
            groups = out.setdefault(key, {})
            groups.setdefault(bool(gid.get("l")), Group()).add(gid["a"], gid["n"], totals)
        return out

    async def _group_on_server(
        self, query: dict[str, Any], group_id: dict[str, str]
    ) -> tuple[dict[tuple[Any, ...], dict[str, int]], dict[tuple[Any, ...], dict[str, Any]]]:
        """`$group` in the database, one pipeline per counter: FerretDB 1.24 computes only the FIRST
        accumulator of a `$group` (every further `$sum` comes back 0)."""

        async def one(name: str) -> list[tuple[dict[str, Any], int]]:
            pipeline = [{"$match": query}, {"$group": {"_id": group_id, "v": {"$sum": f"${name}"}}}]
            return [(row["_id"], int(row.get("v") or 0)) async for row in await self.facts.aggregate(pipeline)]

        results = await asyncio.gather(*(one(name) for name in COUNTER_FIELDS))
        counters: dict[tuple[Any, ...], dict[str, int]] = {}
        ids: dict[tuple[Any, ...], dict[str, Any]] = {}
        for name, rows in zip(COUNTER_FIELDS, results, strict=True):
            for gid, value in rows:
                k = tuple(sorted(gid.items()))
                ids[k] = gid
                counters.setdefault(k, {})[name] = value
        return counters, ids

    async def _group_here(
        self, query: dict[str, Any], group_id: dict[str, str]
    ) -> tuple[dict[tuple[Any, ...], dict[str, int]], dict[tuple[Any, ...], dict[str, Any]]]:
        """The same grouping over a projected scan: on FerretDB one scan is ~8x faster than the
        seven single-accumulator pipelines (1.8k facts: 0.46 s vs ~4 s)."""
        fields = {ref[1:] for ref in group_id.values()} | set(COUNTER_FIELDS)
        counters: dict[tuple[Any, ...], dict[str, int]] = {}
        ids: dict[tuple[Any, ...], dict[str, Any]] = {}
        async for doc in self.facts.find(query, {f: 1 for f in fields}):
            gid = {name: doc.get(ref[1:]) for name, ref in group_id.items()}
            k = tuple(sorted(gid.items()))
            ids[k] = gid
            sums = counters.setdefault(k, dict.fromkeys(COUNTER_FIELDS, 0))
            for name in COUNTER_FIELDS:
                sums[name] += int(doc.get(name) or 0)
        return counters, ids

    async def time_bounds(
        self, match: Mapping[str, Any], start: datetime | None, end: datetime | None
    ) -> tuple[datetime, datetime] | None:
        """The occurred_at of the first and the last fact matching, within [start, end)."""
        query = _in_range(match, start, end)
        found: list[datetime] = []
        for order in (ASCENDING, DESCENDING):
            doc = await self.facts.find_one(query, {"occurred_at": 1}, sort=[("occurred_at", order)])
            if doc is None:
                return None
            at = doc["occurred_at"]
            found.append(at if at.tzinfo else at.replace(tzinfo=UTC))
        return found[0], found[1]

    async def comments(self, content_id: str, limit: int, after: tuple[datetime, str] | None = None) -> list[Comment]:
        """Oldest first on (occurred_at, _id), the first `limit` after `after` (keyset pages)."""
        query: dict[str, Any] = {"content_id": content_id, "has_comment": True}
        if after is not None:
            at, event_id = after
            query["$or"] = [{"occurred_at": {"$gt": at}}, {"occurred_at": at, "_id": {"$gt": event_id}}]
        cursor = self.facts.find(query).sort([("occurred_at", ASCENDING), ("_id", ASCENDING)])
        return [
            Comment(
                d["_id"], d.get("share_id", ""), d["advocate_id"], d["network"], d["comment_text"], d["occurred_at"]
            )
            async for d in cursor.limit(limit)
        ]
