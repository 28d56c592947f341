"""The content service's shared-items view (services/content/adapters/views.py) marks items an
advocate shared; an advocate's own post names no item and leaves it untouched."""

from __future__ import annotations

from typing import Any

from advocacy.share.v1.share_pb2 import Share, ShareMade

from services.content.adapters.views import FeedViews


class Collection:
    def __init__(self) -> None:
        self.upserts: list[str] = []

    async def update_one(self, query: dict[str, Any], update: dict[str, Any], upsert: bool = False) -> None:
        self.upserts.append(query["_id"])


class Database(dict):
    def __missing__(self, name: str) -> Collection:
        self[name] = Collection()
        return self[name]


async def test_an_own_post_marks_no_item_as_shared():
    db = Database()
    views = FeedViews(db)  # type: ignore[arg-type]
    await views.apply_share_made(ShareMade(share=Share(advocate_id="aino", content_id="c1")))
    await views.apply_share_made(ShareMade(share=Share(advocate_id="aino", content_id="own:abc", own_post=True)))
    assert db["content_shared_items"].upserts == ["aino/c1"]
