"""Advocates, shares, click windows and reported engagement in MongoDB (protobuf bytes beside
the fields queries use). Every write that emits an event carries it in the document's `outbox`."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from advocacy.common.v1.common_pb2 import AdvocateSnapshot
from advocacy.share.v1.share_pb2 import Advocate, EnrolmentPeriod, Share
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.common.events import from_timestamp, to_timestamp
from services.common.outbox import OutboxEvent, ensure_outbox_index


class AdvocateRepository:
    """One document per advocate; writes are compare-and-set on `version` (no lost updates)."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["advocates"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("team", ASCENDING)])
        await ensure_outbox_index(self.collection)

    async def get(self, advocate_id: str) -> Advocate | None:
        doc = await self.collection.find_one({"_id": advocate_id}, {"advocate": 1, "version": 1, "enrolled_at": 1})
        if doc is None:
            return None
        advocate = Advocate.FromString(doc["advocate"])
        if not doc.get("version"):
            # A document of the walking skeleton: no version or periods yet; its enrolment began at creation.
            advocate.version = 0
            if not advocate.enrolments and doc.get("enrolled_at"):
                advocate.enrolments.append(EnrolmentPeriod(enrolled_at=to_timestamp(doc["enrolled_at"])))
        return advocate

    async def save(self, advocate: Advocate, event: OutboxEvent) -> bool:
        """Stores `advocate` (whose version is one more than the stored one) with its event in one
        write; False when another write got there first (the caller re-reads and retries)."""
        fields = {
            "team": advocate.profile.team,
            "leader": advocate.profile.leader,
            "enrolled": advocate.enrolled,
            "version": advocate.version,
            "advocate": advocate.SerializeToString(),
        }
        if advocate.version == 1:
            try:
                await self.collection.insert_one(
                    {"_id": advocate.profile.advocate_id, **fields, "outbox": [event.to_document()]}
                )
            except DuplicateKeyError:
                return False
            return True
        previous: Any = advocate.version - 1
        # Skeleton documents have no version field: they count as version 0.
        version_filter = {"$in": [0, None]} if previous == 0 else previous
        result = await self.collection.update_one(
            {"_id": advocate.profile.advocate_id, "version": version_filter},
            {"$set": fields, "$push": {"outbox": event.to_document()}},
        )
        return result.matched_count == 1


@dataclass(frozen=True)
class TrackedShare:
    """What a click needs, read with one lookup by tracked code."""

    share_id: str
    content_id: str
    advocate_id: str
    network: int
    campaign_id: str
    target_url: str
    sharer_fingerprint: str
    advocate: AdvocateSnapshot


class InvalidPageToken(ValueError):
    pass


def _encode_token(shared_at: datetime, share_id: str) -> str:
    raw = json.dumps([shared_at.isoformat(), share_id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: str) -> tuple[datetime, str]:
    try:
        at, share_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return datetime.fromisoformat(at), str(share_id)
    except (ValueError, TypeError) as exc:
        raise InvalidPageToken("page_token: not a token this service issued") from exc


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

    async def insert(
        self, share: Share, advocate: AdvocateSnapshot, sharer_fingerprint: str, events: list[OutboxEvent]
    ) -> bool:
        """Stores the share with its events in one write; False if the idempotency key was taken."""
        try:
            await self.collection.insert_one(
                {
                    "_id": share.share_id,
                    "advocate_id": share.advocate_id,
                    "idempotency_key": share.idempotency_key,
                    "content_id": share.content_id,
                    "network": share.network,
                    "campaign_id": share.campaign_id,
                    "tracked_code": share.tracked_code,
                    "target_url": share.target_url,
                    "sharer_fingerprint": sharer_fingerprint,
                    # The advocate as they were when sharing: engagement events carry this snapshot.
                    "advocate": advocate.SerializeToString(),
                    "shared_at": from_timestamp(share.shared_at),
                    "share": share.SerializeToString(),
                    "outbox": [e.to_document() for e in events],
                }
            )
        except DuplicateKeyError as exc:
            if "idempotency" in str(exc):
                return False
            raise
        return True

    async def _tracked(self, query: dict[str, Any]) -> TrackedShare | None:
        doc = await self.collection.find_one(
            query,
            {
                "content_id": 1,
                "advocate_id": 1,
                "network": 1,
                "campaign_id": 1,
                "target_url": 1,
                "sharer_fingerprint": 1,
                "advocate": 1,
                "share": 1,
            },
        )
        if doc is None:
            return None
        if "target_url" not in doc:
            return None  # a skeleton share without a stored target: never redirect anywhere else
        return TrackedShare(
            share_id=doc["_id"],
            content_id=doc["content_id"],
            advocate_id=doc["advocate_id"],
            network=doc["network"],
            campaign_id=doc.get("campaign_id", ""),
            target_url=doc["target_url"],
            sharer_fingerprint=doc.get("sharer_fingerprint", ""),
            advocate=AdvocateSnapshot.FromString(doc["advocate"]),
        )

    async def by_code(self, code: str) -> TrackedShare | None:
        return await self._tracked({"tracked_code": code})

    async def by_id(self, share_id: str) -> TrackedShare | None:
        return await self._tracked({"_id": share_id})

    async def page(self, field: str, value: str, page_size: int, page_token: str) -> tuple[list[Share], str]:
        """Newest first, keyset-paginated on (shared_at, _id): stable while new shares arrive."""
        query: dict[str, Any] = {field: value}
        if page_token:
            at, last_id = _decode_token(page_token)
            query["$or"] = [{"shared_at": {"$lt": at}}, {"shared_at": at, "_id": {"$lt": last_id}}]
        cursor = (
            self.collection.find(query, {"share": 1, "shared_at": 1})
            .sort([("shared_at", DESCENDING), ("_id", DESCENDING)])
            .limit(page_size + 1)
        )
        docs = [d async for d in cursor]
        shares = [Share.FromString(d["share"]) for d in docs[:page_size]]
        token = (
            _encode_token(docs[page_size - 1]["shared_at"], docs[page_size - 1]["_id"]) if len(docs) > page_size else ""
        )
        return shares, token


class ClickWindowRepository:
    """One document per (share, actor fingerprint): when its last click was emitted."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["click_windows"]

    async def ensure_indexes(self) -> None:
        await ensure_outbox_index(self.collection)

    async def open_window(
        self, share_id: str, actor_fingerprint: str, now: datetime, window: timedelta, event: OutboxEvent
    ) -> bool:
        """Starts a new window and stores the click event with it, in one conditional write; False
        when a window is still open. Concurrent clicks: the update matches for one of them only, and
        a second upsert of the same `_id` fails on the primary key instead of counting twice."""
        try:
            await self.collection.update_one(
                {"_id": f"{share_id}:{actor_fingerprint}", "last_at": {"$lte": now - window}},
                {
                    "$set": {"last_at": now, "share_id": share_id},
                    "$push": {"outbox": event.to_document(now)},
                },
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True


class EngagementRepository:
    """Reported engagement, one document per (source, source event id)."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["engagements"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("share_id", ASCENDING)])
        await ensure_outbox_index(self.collection)

    async def insert(self, record_id: str, share_id: str, event_id: str, event: OutboxEvent) -> tuple[str, bool]:
        """Returns (event id, created); a repeated report returns the first report's event id."""
        try:
            await self.collection.insert_one(
                {"_id": record_id, "share_id": share_id, "event_id": event_id, "outbox": [event.to_document()]}
            )
        except DuplicateKeyError:
            doc = await self.collection.find_one({"_id": record_id}, {"event_id": 1})
            return (doc["event_id"] if doc else ""), False
        return event_id, True
