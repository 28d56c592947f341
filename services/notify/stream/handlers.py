"""The planner's entry point: the consumer loop's subscriptions, each decoding one input event
into the domain's terms and handing it to the planner. A malformed event raises ValueError, which
the loop sends to the topic's DLQ."""

from __future__ import annotations

from collections.abc import Callable

from advocacy.content.v1.content_pb2 import ContentPublished
from advocacy.rewards.v1.rewards_pb2 import PointsAwarded
from advocacy.share.v1.share_pb2 import ShareMade

from services.common.consumer import Subscription
from services.common.events import from_timestamp
from services.notify.adapters import events
from services.notify.app.planner import Planner


def subscriptions(planner: Planner, topic: Callable[[str], str]) -> list[Subscription]:
    async def on_points(event: PointsAwarded) -> None:
        await planner.points_awarded(events.award(event))

    async def on_content(event: ContentPublished) -> None:
        if event.imported:
            return  # history migrated from a previous tool: news of then is nobody's news now
        item = events.item(event.item)
        if event.kind == ContentPublished.Kind.KIND_PUBLISHED:
            await planner.content_published(item, from_timestamp(event.occurred_at))

    async def on_share(event: ShareMade) -> None:
        fact = events.share(event)
        if event.share.own_post or event.imported:
            # A leader's own post is no company item to invite the team to share; an imported
            # share is history migrated from a previous tool.
            return
        await planner.share_made(fact, leader=event.advocate.leader)

    return [
        Subscription(topic("points-awarded"), PointsAwarded, on_points, "points-awarded"),
        Subscription(topic("content-published"), ContentPublished, on_content, "content-published"),
        Subscription(topic("share-made"), ShareMade, on_share, "share-made"),
    ]
