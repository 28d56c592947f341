"""Scheduled publication and expiry on the real servers: the schedule survives a restart of the
service between scheduling and the due time, and two replicas emit each event exactly once."""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta

from advocacy.content.v1 import content_pb2
from advocacy.content.v1.content_pb2 import ContentPublished, ContentStatus

from services.common.events import utcnow
from tests.conftest import make_isolated
from tests.integration.content_harness import (
    approved,
    content_process,
    distinct,
    eventually,
    read_events,
    start,
    stub,
    ts,
)

S = ContentStatus
ITEMS = 12


async def test_schedule_survives_a_restart_and_two_replicas_emit_each_event_once(stack):
    isolated = make_isolated(stack)
    first = content_process(isolated, replica=0)
    await start(first)
    channel, content = stub(first)
    publish_at = utcnow() + timedelta(seconds=12)
    expires_at = publish_at + timedelta(seconds=6)
    try:
        items = [
            await approved(content, title=f"Scheduled {i}", publish_at=ts(publish_at), expires_at=ts(expires_at))
            for i in range(ITEMS)
        ]
        # Publish before publish_at confirms the schedule: the item stays APPROVED, nothing is emitted.
        confirmed = await content.Publish(content_pb2.TransitionRequest(content_id=items[0].content_id))
        assert confirmed.status == S.CONTENT_STATUS_APPROVED and confirmed.version == items[0].version
    finally:
        await channel.close()
        assert first.stop() == {"content": 0}

    # Nothing runs while the publish time passes.
    await asyncio.sleep(max(0.0, (publish_at - utcnow()).total_seconds()) + 0.5)

    # Two replicas start together and race for every due item.
    second = content_process(isolated, replica=1)
    first.start_service("content")
    second.start_service("content")
    await asyncio.gather(
        asyncio.to_thread(first.wait_serving, "content", 90.0),
        asyncio.to_thread(second.wait_serving, "content", 90.0),
    )
    channel, content = stub(second)
    try:

        async def all_expired() -> bool:
            got = [await content.GetContent(content_pb2.GetContentRequest(content_id=i.content_id)) for i in items]
            return all(g.status == S.CONTENT_STATUS_EXPIRED for g in got)

        assert await eventually(all_expired, within=90)
        topic = f"{isolated.prefix}content-published"
        events = await read_events(
            isolated.stack.kafka_bootstrap,
            topic,
            lambda evs: all(distinct(evs, i.content_id, ContentPublished.KIND_EXPIRED) for i in items),
            within=60,
        )
        for item in items:
            # Exactly one event per transition, however many replicas raced for it.
            assert len(distinct(events, item.content_id, ContentPublished.KIND_PUBLISHED)) == 1
            assert len(distinct(events, item.content_id, ContentPublished.KIND_EXPIRED)) == 1
        published = [e for e in events if e.kind == ContentPublished.KIND_PUBLISHED]
        assert all(
            e.item.published_at.ToDatetime(tzinfo=UTC).timestamp() >= publish_at.timestamp() - 1 for e in published
        )
    finally:
        await channel.close()
        codes = [first.stop(), second.stop()]
    assert codes == [{"content": 0}, {"content": 0}]
