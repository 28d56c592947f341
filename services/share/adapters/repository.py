"""Advocates and shares in MongoDB (protobuf bytes beside the fields queries use)."""

from __future__ import annotations

from advocacy.share.v1.share_pb2 import Advocate, Share
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.common.events import from_timestamp, utcnow
from services.common.outbox import OutboxEvent, ensure_outbox_index


class AdvocateRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["advocates"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("team", ASCENDING)])

    async def upsert(self, advocate: Advocate) -> None:
        now = utcnow()
        profile = advocate.profile
        await self.collection.update_one(
            {"_id": profile.advocate_id},
            {
                "$set": {
                    "team": profile.team,
                    "leader": profile.leader,
                    "enrolled": advocate.enrolled,
                    "advocate": advocate.SerializeToString(),
                    "updated_at": now,
                },
                # Enrolment history is kept (adoption needs who was enrolled *when*).
                "$setOnInsert": {"enrolled_at": now},
            },
            upsert=True,
        )

    async def get(self, advocate_id: str) -> Advocate | None:
        doc = await self.collection.find_one({"_id": advocate_id}, {"advocate": 1})
        return Advocate.FromString(doc["advocate"]) if doc else None


class ShareRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["shares"]

    async def ensure_indexes(self) -> None:
        # The idempotency guarantee: one share per (advocate, client key), enforced by the database.
        await self.collection.create_index(
            [("advocate_id", ASCENDING), ("idempotency_key", ASCENDING)], unique=True, name="idempotency"
        )
        await self.collection.create_index([("tracked_code", ASCENDING)], unique=True, name="tracked_code")
        await self.collection.create_index([("content_id", ASCENDING), ("shared_at", DESCENDING)])
        await self.collection.create_index([("advocate_id", ASCENDING), ("shared_at", DESCENDING)])
        await ensure_outbox_index(self.collection)

    async def find_by_idempotency_key(self, advocate_id: str, key: str) -> Share | None:
        doc = await self.collection.find_one({"advocate_id": advocate_id, "idempotency_key": key}, {"share": 1})
        return Share.FromString(doc["share"]) if doc else None

    async def insert(self, share: Share, events: list[OutboxEvent]) -> bool:
        """Stores the share with its events in one write; False if the idempotency key was taken."""
        try:
            await self.collection.insert_one(
                {
                    "_id": share.share_id,
                    "advocate_id": share.advocate_id,
                    "idempotency_key": share.idempotency_key,
                    "content_id": share.content_id,
                    "network": share.network,
                    "tracked_code": share.tracked_code,
                    "shared_at": from_timestamp(share.shared_at),
                    "share": share.SerializeToString(),
                    "outbox": [e.to_document() for e in events],
                }
            )
        except DuplicateKeyError as exc:
            if "idempotency" in str(exc) or "idempotency_key" in str(exc):
                return False
            raise
        return True
