"""Notify's share-made handler: a leader's share of an item invites their team; a leader's own post
(no company item) does not, and is not sent anywhere else either."""

from __future__ import annotations

from typing import Any, cast

from advocacy.common.v1.common_pb2 import AdvocateSnapshot
from advocacy.content.v1.content_pb2 import ContentItem, ContentPublished
from advocacy.share.v1.share_pb2 import Share, ShareMade

from services.notify.app.planner import Planner
from services.notify.stream.handlers import subscriptions


class Recorder:
    def __init__(self) -> None:
        self.shares: list[tuple[str, bool]] = []

    async def share_made(self, share: Any, leader: bool) -> int:
        self.shares.append((share.content_id, leader))
        return 0


async def test_a_leaders_own_post_plans_no_leader_shared_notification():
    planner = Recorder()
    [on_share] = [s for s in subscriptions(cast(Planner, planner), lambda t: t) if s.topic == "share-made"]
    leader = AdvocateSnapshot(advocate_id="boss", leader=True)
    item = ShareMade(event_id="e1", share=Share(share_id="s1", content_id="c1", advocate_id="boss"), advocate=leader)
    own = ShareMade(
        event_id="e2",
        share=Share(share_id="s2", content_id="own:abc", advocate_id="boss", own_post=True),
        advocate=leader,
    )
    await on_share.handler(item)
    await on_share.handler(own)
    assert planner.shares == [("c1", True)]


class ContentRecorder(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.items: list[str] = []

    async def content_published(self, item: Any, occurred_at: Any) -> int:
        self.items.append(item.content_id)
        return 0


async def test_imported_history_plans_nothing():
    """History migrated from a previous tool (ImportShares, ImportContent) is no news: a leader's
    imported share invites nobody, an imported publication announces nothing; live events still do."""
    planner = ContentRecorder()
    handlers = {s.topic: s.handler for s in subscriptions(cast(Planner, planner), lambda t: t)}
    leader = AdvocateSnapshot(advocate_id="boss", leader=True)
    imported = ShareMade(
        event_id="e1", share=Share(share_id="s1", content_id="c1", advocate_id="boss"), advocate=leader, imported=True
    )
    live = ShareMade(event_id="e2", share=Share(share_id="s2", content_id="c2", advocate_id="boss"), advocate=leader)
    await handlers["share-made"](imported)
    await handlers["share-made"](live)
    published = ContentPublished.Kind.KIND_PUBLISHED
    old = ContentPublished(event_id="e3", kind=published, item=ContentItem(content_id="c3"), imported=True)
    new = ContentPublished(event_id="e4", kind=published, item=ContentItem(content_id="c4"))
    await handlers["content-published"](old)
    await handlers["content-published"](new)
    assert planner.shares == [("c2", True)]
    assert planner.items == ["c4"]
