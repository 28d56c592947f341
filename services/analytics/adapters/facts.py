"""The analytics sink and views in MongoDB.

Every consumed event becomes at most one fact document whose `_id` is the event id (a redelivered
event hits the unique `_id` and changes nothing), with the Kafka record it came from first
(`origin`: the rollups count an event id for that record only). Facts are a sink for audits,
exports and comments; figures are read from the rollups (`rollups.py`).

Other views: `advocates` and `contents` keep the latest state per id (older or repeated states are
ignored by a conditional upsert), `click_keys` assigns each unique-click slot to the one event that
claimed it first (a redelivery of that event finds itself the owner again), and `reach_keys` assigns
each (item, advocate, network) triple to its first share event the same way: only that share's
fact carries the audience as potential reach.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.analytics.app.ports import Comment, ContentState
from services.analytics.domain.audience import AudienceRule, Period
from services.analytics.domain.report import Member
from services.common.mongo import duplicate_indexes


class AnalyticsRepository:
    """The fact store (`FactReader` and `FactWriter` of the use cases)."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.facts = db["facts"]
        self.advocates = db["advocates"]
        self.contents = db["contents"]
        self.click_keys = db["click_keys"]
        self.reach_keys = db["reach_keys"]

    async def ensure_indexes(self) -> None:
        # Comments of an item, oldest first (figures are read from the rollups, never from facts).
        await self.facts.create_index([("content_id", ASCENDING), ("occurred_at", ASCENDING)])

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

    async def origins(self, claims: list[tuple[str, str]]) -> dict[str, str]:
        """Per (event id, origin): the Kafka record (`topic:partition:offset`) its stored fact came
        from first. A fact stored before facts had an origin is claimed by the first that asks."""

        async def one(event_id: str, origin: str) -> str | None:
            doc = await self.facts.find_one({"_id": event_id}, {"origin": 1})
            if doc is not None and "origin" not in doc:
                await self.facts.update_one(
                    {"_id": event_id, "origin": {"$exists": False}}, {"$set": {"origin": origin}}
                )
                doc = await self.facts.find_one({"_id": event_id}, {"origin": 1})
            return doc.get("origin") if doc is not None else None

        found = await asyncio.gather(*(one(event_id, origin) for event_id, origin in claims))
        return {event_id: o for (event_id, _), o in zip(claims, found, strict=True) if o is not None}

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
