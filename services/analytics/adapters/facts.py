"""Share facts in MongoDB, one document per event id (a redelivered event is stored once),
and the content statistics derived from them."""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError


class ShareFactRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["share_facts"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("content_id", ASCENDING), ("occurred_at", ASCENDING)])

    async def record(
        self,
        *,
        event_id: str,
        content_id: str,
        advocate_id: str,
        team: str,
        leader: bool,
        campaign_id: str,
        network: str,
        audience_size: int,
        occurred_at: datetime,
    ) -> bool:
        try:
            await self.collection.insert_one(
                {
                    "_id": event_id,
                    "content_id": content_id,
                    "advocate_id": advocate_id,
                    "team": team,
                    "leader": leader,
                    "campaign_id": campaign_id,
                    "network": network,
                    "audience_size": audience_size,
                    "occurred_at": occurred_at,
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def content_stats(self, content_id: str) -> tuple[int, int, int]:
        """(shares, distinct sharers, potential reach) of one item."""
        match = {"$match": {"content_id": content_id}}
        reach_rows = [
            r
            async for r in await self.collection.aggregate(
                [match, {"$group": {"_id": None, "reach": {"$sum": "$audience_size"}}}]
            )
        ]
        sharer_rows = [
            r
            async for r in await self.collection.aggregate(
                [match, {"$group": {"_id": "$advocate_id"}}, {"$count": "sharers"}]
            )
        ]
        shares = await self.collection.count_documents({"content_id": content_id})
        reach = int(reach_rows[0]["reach"]) if reach_rows else 0
        sharers = int(sharer_rows[0]["sharers"]) if sharer_rows else 0
        return shares, sharers, reach
