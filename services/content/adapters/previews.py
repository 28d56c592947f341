"""Link previews in MongoDB (`content_previews`), one document per URL (`_id` = a hash of the URL):
items sharing a URL share its preview, and a page is fetched once.

A fetch is claimed by inserting the document as `pending` (one replica wins); the claimer is the
only writer of its result. A pending claim older than `stale_after` (its fetcher died) may be
taken again.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from advocacy.content.v1.content_pb2 import LinkPreview
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

PENDING, READ, FAILED = "pending", "read", "failed"


def preview_id(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:32]


class PreviewStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["content_previews"]

    async def claim(self, url: str, now: datetime, stale_after: timedelta) -> bool:
        """True when this caller should fetch the page: nobody has, or a fetcher died at it."""
        doc_id = preview_id(url)
        try:
            await self.collection.insert_one({"_id": doc_id, "url": url, "state": PENDING, "claimed_at": now})
            return True
        except DuplicateKeyError:
            pass
        doc = await self.collection.find_one({"_id": doc_id}, {"state": 1, "claimed_at": 1})
        if doc is None or doc["state"] != PENDING or doc["claimed_at"] > now - stale_after:
            return False
        # Not isolated on FerretDB: two replicas may both take a stale claim; a double fetch is harmless.
        await self.collection.update_one({"_id": doc_id}, {"$set": {"claimed_at": now}})
        return True

    async def save(self, url: str, preview: LinkPreview | None, error: str = "") -> None:
        state = {"state": READ if preview is not None else FAILED, "error": error[:500]}
        if preview is not None:
            state["preview"] = preview.SerializeToString()
        await self.collection.update_one({"_id": preview_id(url)}, {"$set": state})

    async def get(self, url: str) -> tuple[str, LinkPreview | None]:
        """The state of the URL's preview ("" when never requested) and the preview when read."""
        doc = await self.collection.find_one({"_id": preview_id(url)}, {"state": 1, "preview": 1})
        if doc is None:
            return "", None
        return doc["state"], LinkPreview.FromString(doc["preview"]) if "preview" in doc else None
