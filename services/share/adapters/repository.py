"""Advocates, shares, click windows and reported engagement in MongoDB (protobuf bytes beside
the fields queries use). Every write that emits an event carries it in the document's `outbox`."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from advocacy.common.v1.common_pb2 import AdvocateSnapshot
from advocacy.share.v1.share_pb2 import Advocate, Share
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.common.events import from_timestamp, utcnow
from services.common.outbox import OutboxEvent, ensure_outbox_index
from services.share.domain.links import window_open


class AdvocateRepository:
    """Every version of an advocate is its own document, inserted once (`_id` = `<id>:<version>`),
    with its `advocate-changed` event in its outbox. The unique `_id` is the compare-and-set: of two
    concurrent changes to the same version, exactly one insert succeeds. Nothing ever updates an
    advocate document in place except the relay removing sent events, because FerretDB 1.24 (SQLite)
    applies concurrent updates of one document as read-modify-write and loses some of them."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["advocate_versions"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("advocate_id", ASCENDING), ("version", DESCENDING)])
        await self.collection.create_index([("team", ASCENDING)])
        await self.collection.create_index([("written_at", ASCENDING)])
        await ensure_outbox_index(self.collection)

    async def get(self, advocate_id: str) -> Advocate | None:
        cursor = self.collection.find({"advocate_id": advocate_id}, {"advocate": 1}).sort("version", DESCENDING)
        docs = [d async for d in cursor.limit(1)]
        return Advocate.FromString(docs[0]["advocate"]) if docs else None

    async def save(self, advocate: Advocate, event: OutboxEvent) -> bool:
        """Stores `advocate` (one version after the stored one) with its event in one insert; False
        when another change of the same version got there first (the caller re-reads and retries)."""
        advocate_id = advocate.profile.advocate_id
        try:
            await self.collection.insert_one(
                {
                    "_id": f"{advocate_id}:{advocate.version}",
                    "advocate_id": advocate_id,
                    "version": advocate.version,
                    "team": advocate.profile.team,
                    "leader": advocate.profile.leader,
                    "enrolled": advocate.enrolled,
                    "advocate": advocate.SerializeToString(),
                    # The relay sends versions in this order, so the compacted topic ends on the latest.
                    "written_at": utcnow(),
                    "outbox": [event.to_document()],
                }
            )
        except DuplicateKeyError:
            return False
        return True


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
        except DuplicateKeyError:
            # FerretDB's error does not name the index: the key is taken iff its share exists.
            if await self.find_by_idempotency_key(share.advocate_id, share.idempotency_key) is not None:
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
    """One document per emitted click window of (share, actor fingerprint), numbered 1, 2, ...:
    a click opens window n+1 only when window n is at least `window` old, by inserting `_id` =
    `<share>:<fingerprint>:<n+1>`. Of concurrent clicks exactly one insert succeeds (unique `_id`),
    so they cannot both count. Insert-only for the same reason as advocates: FerretDB 1.24 loses
    concurrent in-place updates of one document."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["click_windows"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index(
            [("share_id", ASCENDING), ("fingerprint", ASCENDING), ("n", DESCENDING)], name="latest_window"
        )
        await ensure_outbox_index(self.collection)

    async def open_window(
        self, share_id: str, actor_fingerprint: str, now: datetime, window: timedelta, event: OutboxEvent
    ) -> bool:
        """True (and the click event stored with the new window) when this click starts a window."""
        cursor = self.collection.find(
            {"share_id": share_id, "fingerprint": actor_fingerprint}, {"n": 1, "opened_at": 1}
        ).sort("n", DESCENDING)
        latest = [d async for d in cursor.limit(1)]
        last_at = latest[0]["opened_at"] if latest else None
        if not window_open(last_at, now, window):
            return False
        n = latest[0]["n"] + 1 if latest else 1
        try:
            await self.collection.insert_one(
                {
                    "_id": f"{share_id}:{actor_fingerprint}:{n}",
                    "share_id": share_id,
                    "fingerprint": actor_fingerprint,
                    "n": n,
                    "opened_at": now,
                    "outbox": [event.to_document(now)],
                }
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
