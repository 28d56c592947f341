"""Advocates, shares, click windows and reported engagement in MongoDB (protobuf bytes beside
the fields queries use). Every write that emits an event carries it in the document's `outbox`."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from advocacy.common.v1.common_pb2 import AdvocateSnapshot
from advocacy.share.v1.share_pb2 import Advocate, AdvocateChanged, Share
from google.protobuf.message import DecodeError
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.common.events import from_timestamp, utcnow
from services.common.group_commit import GroupCommit
from services.common.outbox import OutboxEvent, ensure_outbox_index
from services.common.topic_view import TopicFollower
from services.share.adapters.chain import Chain
from services.share.app.ports import EngagementRecord, TrackedShare
from services.share.domain.links import window_open
from services.share.domain.sharing import share_id_for


class AdvocateRepository:
    """Every version of an advocate is its own document, inserted once (`_id` = `<id>:<version>`),
    with its `advocate-changed` event in its outbox. The unique `_id` is the compare-and-set: of two
    concurrent changes to the same version, exactly one insert succeeds. Nothing ever updates an
    advocate document in place except the relay removing sent events, because FerretDB 1.24 (SQLite)
    applies concurrent updates of one document as read-modify-write and loses some of them.

    The latest version is found by `_id` reads only (see `Chain`): a head document per advocate
    (`advocate_heads`, `_id` = advocate id) with the version and a copy of it, then a probe for
    the next version. Never a sorted query: on FerretDB that scans every version of everyone."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["advocate_versions"]
        self._chain = Chain(self.collection, db["advocate_heads"], _version_id, ("advocate",))
        # Told of every version this process stored (a local view shows it at once).
        self.on_saved: Callable[[Advocate], None] = lambda advocate: None

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("advocate_id", ASCENDING), ("version", DESCENDING)])
        await self.collection.create_index([("team", ASCENDING)])
        await self.collection.create_index([("written_at", ASCENDING)])
        await ensure_outbox_index(self.collection)

    async def get(self, advocate_id: str) -> Advocate | None:
        _, fields = await self._chain.latest(advocate_id)
        return Advocate.FromString(fields["advocate"]) if fields else None

    async def save(self, advocate: Advocate, event: OutboxEvent) -> bool:
        """Stores `advocate` (one version after the stored one) with its event in one insert; False
        when another change of the same version got there first (the caller re-reads and retries)."""
        advocate_id = advocate.profile.advocate_id
        saved = await self._chain.append(
            advocate_id,
            advocate.version,
            {
                "advocate_id": advocate_id,
                "version": advocate.version,
                "team": advocate.profile.team,
                "leader": advocate.profile.leader,
                "enrolled": advocate.enrolled,
                "advocate": advocate.SerializeToString(),
                # The relay sends versions in this order, so the compacted topic ends on the latest.
                "written_at": utcnow(),
                "outbox": [event.to_document()],
            },
        )
        if saved:
            self.on_saved(advocate)
        return saved


# Bounds the memory of the in-process caches; when full they start over (entries are re-read).
MAX_CACHED = 100_000


class AdvocateView:
    """Advocates as RecordShare reads them, from memory: kept from `advocate-changed` (compacted,
    the whole state with its version; every replica reads all of it) and from this process's own
    writes at once. A change written through another replica is seen as soon as its event reaches
    Kafka (its relay sends at once). Trusted only while current (`TopicFollower`); an advocate the
    view does not hold, or any advocate while it is not current, is read by `_id`."""

    def __init__(
        self, repository: AdvocateRepository, bootstrap: str, topic: str, max_lag_seconds: float = 2.0
    ) -> None:
        self._repository = repository
        self._advocates: dict[str, Advocate] = {}
        self.follower = TopicFollower(bootstrap, topic, self._record, "share-advocate-view", max_lag_seconds)
        repository.on_saved = self.remember

    def _record(self, value: bytes) -> None:
        try:
            advocate = AdvocateChanged.FromString(value).advocate
        except DecodeError:
            return  # the topic's consumers dead-letter it; here it is simply no advocate
        if advocate.profile.advocate_id:
            self.remember(advocate)

    def remember(self, advocate: Advocate) -> None:
        held = self._advocates.get(advocate.profile.advocate_id)
        if held is None or held.version <= advocate.version:
            self._advocates[advocate.profile.advocate_id] = advocate

    async def get(self, advocate_id: str) -> Advocate | None:
        held = self._advocates.get(advocate_id)
        if held is not None and self.follower.current:
            return held
        advocate = await self._repository.get(advocate_id)
        if advocate is not None:
            self.remember(advocate)
        return advocate


def _version_id(advocate_id: str, version: int) -> str:
    return f"{advocate_id}:{version}"


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
    )


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
        )
        if doc_id == tracked.share_id:  # aliases (old codes) are resolved again: they are rare
            self._remember(tracked)
        return tracked

    async def by_code(self, code: str) -> TrackedShare | None:
        return await self._tracked(code)

    async def by_id(self, share_id: str) -> TrackedShare | None:
        return await self._tracked(share_id)

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
    concurrent in-place updates of one document. The latest window is found by `_id` reads
    (`Chain`, heads in `click_heads`), never by a sorted query."""

    def __init__(self, db: AsyncDatabase, commit: GroupCommit | None = None) -> None:
        self.collection = db["click_windows"]
        self._commit = commit or GroupCommit()
        self._chain = Chain(self.collection, db["click_heads"], _window_id, ("opened_at",), self._commit.insert)
        # The latest window this replica knows per (share, fingerprint): (n, opened_at). Exact for
        # "still inside the window" (no replica can open n + 1 before window n is `window` old);
        # anything else is decided by the unique insert of window n + 1.
        self._known: dict[str, tuple[int, datetime]] = {}

    async def ensure_indexes(self) -> None:
        await self.collection.create_index(
            [("share_id", ASCENDING), ("fingerprint", ASCENDING), ("n", DESCENDING)], name="latest_window"
        )
        await ensure_outbox_index(self.collection)

    async def open_window(
        self, share_id: str, actor_fingerprint: str, now: datetime, window: timedelta, event: OutboxEvent
    ) -> tuple[str, list[dict[str, Any]]] | None:
        """(window `_id`, outbox stored with it) for the relay when this click starts a window;
        None when it falls into the current one (or a concurrent click opened the next)."""
        key = f"{share_id}:{actor_fingerprint}"
        outbox = [event.to_document(now)]
        known = self._known.get(key)
        if known is None:
            # Most clicks are an actor's first on a share: try window 1 without reading anything
            # (no head: readers probe from 0, and window 1 is found by its `_id`).
            if await self._commit.insert(self.collection, self._record(share_id, actor_fingerprint, 1, now, outbox)):
                self._remember(key, 1, now)
                return _window_id(key, 1), outbox
            n, latest = await self._chain.latest(key)
            known = (n, latest["opened_at"]) if latest else None
            if known is not None:
                self._remember(key, *known)
        if known is not None and not window_open(known[1], now, window):
            return None
        n = known[0] if known else 0
        if not await self._chain.append(key, n + 1, self._record(share_id, actor_fingerprint, n + 1, now, outbox)):
            self._known.pop(key, None)  # another click (or replica) opened it: read again next time
            return None
        self._remember(key, n + 1, now)
        return _window_id(key, n + 1), outbox

    @staticmethod
    def _record(
        share_id: str, actor_fingerprint: str, n: int, now: datetime, outbox: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return {
            "_id": _window_id(f"{share_id}:{actor_fingerprint}", n),
            "share_id": share_id,
            "fingerprint": actor_fingerprint,
            "n": n,
            "opened_at": now,
            "outbox": outbox,
        }

    def _remember(self, key: str, n: int, opened_at: datetime) -> None:
        if len(self._known) >= MAX_CACHED:
            self._known.clear()
        self._known[key] = (n, opened_at)


def _window_id(key: str, n: int) -> str:
    return f"{key}:{n}"


class EngagementRepository:
    """Reported engagement, one document per (source, source event id)."""

    def __init__(self, db: AsyncDatabase, commit: GroupCommit | None = None) -> None:
        self.collection = db["engagements"]
        self._commit = commit or GroupCommit()

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("share_id", ASCENDING)])
        await ensure_outbox_index(self.collection)

    async def insert_many(self, records: list[EngagementRecord]) -> list[tuple[str, bool]]:
        """Stores the records (one round trip); per record (event id, created): a repeated report
        (already stored, or earlier in the same batch) returns the first report's event id."""
        if not records:
            return []
        docs = [
            {"_id": r.record_id, "share_id": r.share_id, "event_id": r.event_id, "outbox": r.outbox} for r in records
        ]
        # Concurrent calls' records share one insert; a duplicate is refused per record.
        inserted = await self._commit.insert_all(self.collection, docs)
        refused = {i for i, ok in enumerate(inserted) if not ok}
        first = {}
        if refused:
            ids = {records[i].record_id for i in refused}
            found = await asyncio.gather(*(self.collection.find_one({"_id": i}, {"event_id": 1}) for i in ids))
            first = {d["_id"]: d["event_id"] for d in found if d}
        return [
            (first.get(r.record_id, ""), False) if i in refused else (r.event_id, True) for i, r in enumerate(records)
        ]
