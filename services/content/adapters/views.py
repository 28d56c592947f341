"""Local read models the feed needs, built from other services' events.

- `content_advocates_view`: the latest `advocate-changed` state per advocate (team, location, language,
  role, interests, enrolled). Writes are upserts of the whole state guarded by `occurred_at`,
  so a redelivered or older record never overwrites a newer one.
- `content_shared_items`: one document per (advocate, content) from `share-made`, keyed by both ids, so a
  redelivery (or a second share of the same item) is an upsert that changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from advocacy.share.v1.share_pb2 import AdvocateChanged, ShareMade
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.common.events import from_timestamp
from services.content.domain.feed import Viewer


class FeedViews:
    def __init__(self, db: AsyncDatabase) -> None:
        # Prefixed: every service may share one database, and these are the content service's copies.
        self.advocates = db["content_advocates_view"]
        self.shared = db["content_shared_items"]

    async def ensure_indexes(self) -> None:
        await self.shared.create_index([("advocate_id", ASCENDING), ("content_id", ASCENDING)])

    async def apply_advocate_changed(self, event: AdvocateChanged) -> bool:
        """Stores the advocate's state unless a newer one is stored; True when it was written."""
        profile = event.advocate.profile
        if not profile.advocate_id:
            raise ValueError("advocate.profile.advocate_id is empty")
        occurred_at: datetime = from_timestamp(event.occurred_at)
        state = {
            "team": profile.team,
            "location": profile.location,
            "language": profile.language,
            "role": profile.role,
            "display_name": profile.display_name,
            "leader": profile.leader,
            "timezone": profile.timezone,
            "interests": list(event.advocate.interests),
            "enrolled": event.advocate.enrolled,
            "occurred_at": occurred_at,
            "event_id": event.event_id,
        }
        try:
            # Matches only when the stored state is not newer; otherwise the upsert collides on _id.
            await self.advocates.update_one(
                {"_id": profile.advocate_id, "occurred_at": {"$lte": occurred_at}}, {"$set": state}, upsert=True
            )
        except DuplicateKeyError:
            return False  # a newer state is already stored
        return True

    async def apply_share_made(self, event: ShareMade) -> None:
        share = event.share
        if not share.advocate_id or not share.content_id:
            raise ValueError("share.advocate_id and share.content_id are required")
        if share.own_post:
            return  # an advocate's own post shares no item of ours
        try:
            await self.shared.update_one(
                {"_id": f"{share.advocate_id}/{share.content_id}"},
                {
                    "$setOnInsert": {
                        "advocate_id": share.advocate_id,
                        "content_id": share.content_id,
                        "first_shared_at": from_timestamp(share.shared_at),
                    }
                },
                upsert=True,
            )
        except DuplicateKeyError:
            pass  # a concurrent upsert of the same pair inserted it: the same fact

    async def viewer(self, advocate_id: str) -> Viewer | None:
        doc = await self.advocates.find_one({"_id": advocate_id})
        if doc is None:
            return None
        return Viewer(
            advocate_id=advocate_id,
            team=doc.get("team", ""),
            location=doc.get("location", ""),
            language=doc.get("language", ""),
            role=doc.get("role", ""),
            interests=tuple(doc.get("interests", [])),
            enrolled=bool(doc.get("enrolled", True)),
            display_name=doc.get("display_name", ""),
            leader=bool(doc.get("leader", False)),
            timezone=doc.get("timezone", ""),
        )

    async def shared_content_ids(self, advocate_id: str, content_ids: list[str]) -> set[str]:
        ids = [f"{advocate_id}/{c}" for c in content_ids]
        return {d["content_id"] async for d in self.shared.find({"_id": {"$in": ids}}, {"content_id": 1})}
