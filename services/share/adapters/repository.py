"""Shares in MongoDB (protobuf bytes beside the fields queries use), each with its events in its
document's `outbox`. Advocates are in advocates.py, click windows and engagement in engagement.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from advocacy.common.v1.common_pb2 import AdvocateSnapshot
from advocacy.share.v1.share_pb2 import Share
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.common.events import from_timestamp, utcnow
from services.common.group_commit import GroupCommit
from services.common.outbox import OutboxEvent, ensure_outbox_index
from services.share.app.ports import ListedShare, ShareField, TrackedShare
from services.share.domain.sharing import share_id_for

# Bounds the memory of the in-process caches; when full they start over (entries are re-read).
MAX_CACHED = 100_000


def _tracked_share(share: Share, advocate: AdvocateSnapshot, sharer_fingerprint: str) -> TrackedShare:
    return TrackedShare(
        share_id=share.share_id,
        content_id=share.content_id,
        advocate_id=share.advocate_id,
        network=share.network,
        campaign_id=share.campaign_id,
        target_url=share.target_url,
        sharer_fingerprint=sharer_fingerprint,
        advocate=advocate,
        own_post=share.own_post,
    )


# Marks a database whose shares were migrated to `_id` = share id = tracked code (see `migrate`).
SHARE_IDS_MIGRATION = "share-ids-v2"


class ShareRepository:
    """One document per share, `_id` = share id = tracked code = `share_id_for(advocate, key)`:
    the idempotency check, a retry, a click and an engagement report each find it with one `_id`
    read, and the insert itself enforces one share per (advocate, key) on FerretDB and MongoDB.

    Shares written before (random `_id`, 12-character tracked code, uniqueness by secondary
    indexes) stay valid: `migrate` writes, once per database, alias documents (`share_aliases`,
    `_id` = old tracked code or the id the new scheme derives for its (advocate, key)) pointing
    at their `_id`; lookups follow an alias only on a database that had such shares."""

    def __init__(self, db: AsyncDatabase, commit: GroupCommit | None = None) -> None:
        self.collection = db["shares"]
        self._commit = commit or GroupCommit()
        # Shares never change once written: what a click or report needs is kept in memory.
        self._tracked_cache: dict[str, TrackedShare] = {}
        self._aliases = db["share_aliases"]
        self._migrations = db["share_migrations"]
        self._legacy = False  # set by `migrate`: this database holds shares of the old shape

    async def ensure_indexes(self) -> None:
        # Listing an advocate's or an item's shares, newest first (a scan on FerretDB, indexed on
        # MongoDB; not a hot path). Uniqueness needs no index any more: it is the `_id`.
        await self.collection.create_index([("content_id", ASCENDING), ("shared_at", DESCENDING)])
        await self.collection.create_index([("advocate_id", ASCENDING), ("shared_at", DESCENDING)])
        await ensure_outbox_index(self.collection)

    async def migrate(self) -> int:
        """Once per database (before serving): aliases for shares of the old shape. Returns how
        many such shares there are. One scan of the collection, the first time only; stop older
        share service versions before starting this one (they would keep writing old shapes)."""
        marker = await self._migrations.find_one({"_id": SHARE_IDS_MIGRATION})
        if marker is None:
            legacy = 0
            cursor = self.collection.find({}, {"advocate_id": 1, "idempotency_key": 1, "tracked_code": 1})
            async for doc in cursor:
                derived = share_id_for(doc.get("advocate_id", ""), doc.get("idempotency_key", ""))
                if doc["_id"] == derived:
                    continue
                legacy += 1
                for alias in {doc.get("tracked_code"), derived} - {None, ""}:
                    try:
                        await self._aliases.insert_one({"_id": alias, "share_id": doc["_id"]})
                    except DuplicateKeyError:
                        pass  # a concurrent or interrupted migration wrote it already
            try:
                await self._migrations.insert_one({"_id": SHARE_IDS_MIGRATION, "legacy": legacy, "at": utcnow()})
            except DuplicateKeyError:
                pass
            marker = {"legacy": legacy}
        self._legacy = marker["legacy"] > 0
        return int(marker["legacy"])

    async def _resolve(self, doc_id: str, projection: dict[str, int]) -> dict[str, Any] | None:
        doc = await self.collection.find_one({"_id": doc_id}, projection)
        if doc is None and self._legacy:
            alias = await self._aliases.find_one({"_id": doc_id})
            if alias is not None:
                doc = await self.collection.find_one({"_id": alias["share_id"]}, projection)
        return doc

    async def get(self, share_id: str) -> Share | None:
        """The share stored under this id (old-shape shares also under their derived id)."""
        doc = await self._resolve(share_id, {"share": 1})
        return Share.FromString(doc["share"]) if doc else None

    async def insert(
        self, share: Share, advocate: AdvocateSnapshot, sharer_fingerprint: str, events: list[OutboxEvent]
    ) -> tuple[Share, list[dict[str, Any]] | None]:
        """Stores the share with its events in one write. Returns the stored share and the outbox
        written (for the relay), or the share that already holds this id (a concurrent retry with
        the same key won) and None."""
        outbox = [e.to_document() for e in events]
        if await self._commit.insert(
            self.collection,
            {
                "_id": share.share_id,
                "advocate_id": share.advocate_id,
                "idempotency_key": share.idempotency_key,
                "content_id": share.content_id,
                "network": share.network,
                "campaign_id": share.campaign_id,
                # Kept as fields: databases from before carry unique indexes on them.
                "tracked_code": share.tracked_code,
                "target_url": share.target_url,
                "sharer_fingerprint": sharer_fingerprint,
                "own_post": share.own_post,
                # The advocate as they were when sharing: engagement events carry this snapshot.
                "advocate": advocate.SerializeToString(),
                "shared_at": from_timestamp(share.shared_at),
                "share": share.SerializeToString(),
                "outbox": outbox,
            },
        ):
            self._remember(_tracked_share(share, advocate, sharer_fingerprint))
            return share, outbox
        existing = await self.get(share.share_id)
        if existing is None and self._legacy:
            # Only an old secondary unique index can refuse an unused `_id`: find its share.
            doc = await self.collection.find_one(
                {"advocate_id": share.advocate_id, "idempotency_key": share.idempotency_key}, {"share": 1}
            )
            existing = Share.FromString(doc["share"]) if doc else None
        if existing is None:
            raise DuplicateKeyError(f"share {share.share_id}: refused as a duplicate, yet not found")
        return existing, None

    def _remember(self, tracked: TrackedShare) -> None:
        if len(self._tracked_cache) >= MAX_CACHED:
            self._tracked_cache.clear()
        self._tracked_cache[tracked.share_id] = tracked

    async def _tracked(self, doc_id: str) -> TrackedShare | None:
        held = self._tracked_cache.get(doc_id)
        if held is not None:
            return held
        doc = await self._resolve(
            doc_id,
            {
                "content_id": 1,
                "advocate_id": 1,
                "network": 1,
                "campaign_id": 1,
                "target_url": 1,
                "sharer_fingerprint": 1,
                "own_post": 1,
                "advocate": 1,
                "share": 1,
            },
        )
        if doc is None:
            return None
        if "target_url" not in doc:
            return None  # a skeleton share without a stored target: never redirect anywhere else
        tracked = TrackedShare(
            share_id=doc["_id"],
            content_id=doc["content_id"],
            advocate_id=doc["advocate_id"],
            network=doc["network"],
            campaign_id=doc.get("campaign_id", ""),
            target_url=doc["target_url"],
            sharer_fingerprint=doc.get("sharer_fingerprint", ""),
            advocate=AdvocateSnapshot.FromString(doc["advocate"]),
            own_post=bool(doc.get("own_post", False)),  # shares stored before own posts: not one
        )
        if doc_id == tracked.share_id:  # aliases (old codes) are resolved again: they are rare
            self._remember(tracked)
        return tracked

    async def by_code(self, code: str) -> TrackedShare | None:
        return await self._tracked(code)

    async def by_id(self, share_id: str) -> TrackedShare | None:
        return await self._tracked(share_id)

    async def listed(
        self, field: ShareField, value: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[ListedShare]:
        """Newest first on (shared_at, _id), those after `after`."""
        query: dict[str, Any] = {field: value}
        if after is not None:
            at, last_id = after
            query["$or"] = [{"shared_at": {"$lt": at}}, {"shared_at": at, "_id": {"$lt": last_id}}]
        cursor = (
            self.collection.find(query, {"share": 1, "shared_at": 1})
            .sort([("shared_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [ListedShare(Share.FromString(d["share"]), (d["shared_at"], d["_id"])) async for d in cursor]
