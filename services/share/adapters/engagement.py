"""Click windows and reported engagement in MongoDB; each document that emits an event carries it
in its `outbox`."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.common.group_commit import GroupCommit
from services.common.outbox import OutboxEvent, ensure_outbox_index
from services.share.adapters.chain import Chain
from services.share.adapters.repository import MAX_CACHED
from services.share.app.ports import EngagementRecord
from services.share.domain.links import window_open


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
