"""The notify service's MongoDB collections, every read by `_id`, every write one document:

- `notify_queue`: planned notifications not finished yet (`_id` = notification id). The planner
  only inserts (a duplicate id is a notification already queued); the delivery loop, their one
  writer afterwards, reschedules and removes them. It holds only unfinished work, so reading it
  whole at start is bounded by the backlog.
- `notify_done`: one document per finished notification (`_id` = notification id, insert-only):
  a notification planned again after it finished (a redelivered event) is never sent again.
- `notify_deliveries`: one per notification and channel (`_id` = `<id>/<channel>`, insert-only):
  a channel that took the message is never sent it again, whatever restarts in between.
- `notify_preferences`: an advocate's settings (`_id` = advocate id) and the company defaults
  (`_id` = COMPANY)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.common.mongo import duplicate_indexes, upsert_by_id
from services.notify.app.stores import Queued
from services.notify.domain.notification import ChannelName, Kind
from services.notify.domain.planning import Planned
from services.notify.domain.preferences import DigestFrequency, Preferences

COMPANY = "__company_defaults__"


class MongoNotificationStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.queue = db["notify_queue"]
        self.done = db["notify_done"]
        self.deliveries = db["notify_deliveries"]

    async def enqueue(self, planned: Sequence[Planned]) -> list[Queued]:
        if not planned:
            return []
        docs = [
            {
                "_id": p.notification_id,
                "kind": p.kind.value,
                "advocate_id": p.advocate_id,
                "due_at": p.due_at,
                "first_due_at": p.due_at,
                "data": dict(p.data),
                "attempts": {},
            }
            for p in planned
        ]
        try:
            await self.queue.insert_many(docs, ordered=False)
            duplicates: set[int] = set()
        except BulkWriteError as exc:
            duplicates = duplicate_indexes(exc)
        return [_queued(doc) for i, doc in enumerate(docs) if i not in duplicates]

    async def queued(self, notification_id: str) -> Queued | None:
        doc = await self.queue.find_one({"_id": notification_id})
        return _queued(doc) if doc else None

    async def all_queued(self) -> list[Queued]:
        return [_queued(doc) async for doc in self.queue.find({})]

    async def reschedule(self, notification_id: str, due_at: datetime, attempts: Mapping[str, int]) -> None:
        await self.queue.update_one({"_id": notification_id}, {"$set": {"due_at": due_at, "attempts": dict(attempts)}})

    async def finished(self, notification_id: str) -> bool:
        return await self.done.find_one({"_id": notification_id}) is not None

    async def finish(self, queued: Queued, outcome: str, reason: str, at: datetime) -> None:
        doc = {"_id": queued.notification_id, "kind": queued.kind.value, "advocate_id": queued.advocate_id}
        try:
            await self.done.insert_one({**doc, "outcome": outcome, "reason": reason, "finished_at": at})
        except DuplicateKeyError:
            pass  # finished before: the first outcome stays
        await self.queue.delete_one({"_id": queued.notification_id})

    async def channel_state(self, notification_id: str, channel: ChannelName) -> str | None:
        doc = await self.deliveries.find_one({"_id": f"{notification_id}/{channel.value}"})
        return str(doc["state"]) if doc else None

    async def set_channel_state(self, notification_id: str, channel: ChannelName, state: str, at: datetime) -> None:
        try:
            await self.deliveries.insert_one({"_id": f"{notification_id}/{channel.value}", "state": state, "at": at})
        except DuplicateKeyError:
            pass


def _queued(doc: Mapping[str, Any]) -> Queued:
    return Queued(
        notification_id=doc["_id"],
        kind=Kind(doc["kind"]),
        advocate_id=doc["advocate_id"],
        due_at=_utc(doc["due_at"]),
        first_due_at=_utc(doc["first_due_at"]),
        data=doc.get("data") or {},
        attempts=doc.get("attempts") or {},
    )


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class MongoPreferencesStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["notify_preferences"]

    async def own(self, advocate_id: str) -> Preferences | None:
        doc = await self.collection.find_one({"_id": advocate_id})
        return preferences_from_doc(doc) if doc else None

    async def save(self, advocate_id: str, prefs: Preferences) -> None:
        # Every field is always written, so a $set replaces the settings whole.
        await upsert_by_id(self.collection, advocate_id, {"$set": preferences_to_doc(prefs)})

    async def company_defaults(self) -> Preferences | None:
        return await self.own(COMPANY)

    async def save_company_defaults(self, prefs: Preferences) -> None:
        await self.save(COMPANY, prefs)


def preferences_to_doc(prefs: Preferences) -> dict[str, Any]:
    return {
        "channels": {c.value: address for c, address in prefs.channels.items()},
        "kinds": sorted(k.value for k in prefs.kinds),
        "digest": prefs.digest.value,
        "quiet_start": prefs.quiet_start.strftime("%H:%M") if prefs.quiet_start else "",
        "quiet_end": prefs.quiet_end.strftime("%H:%M") if prefs.quiet_end else "",
        "opted_out": prefs.opted_out,
    }


def preferences_from_doc(doc: Mapping[str, Any]) -> Preferences:
    def hhmm(value: str) -> time | None:
        return time.fromisoformat(value) if value else None

    return Preferences(
        channels={ChannelName(c): a for c, a in (doc.get("channels") or {}).items()},
        kinds=frozenset(Kind(k) for k in doc.get("kinds", [])),
        digest=DigestFrequency(doc.get("digest", "off")),
        quiet_start=hhmm(doc.get("quiet_start", "")),
        quiet_end=hhmm(doc.get("quiet_end", "")),
        opted_out=bool(doc.get("opted_out")),
    )
