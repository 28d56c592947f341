"""Scheduled publication and expiry on the real servers: punctual across a restart of the service
between scheduling and the due time, caught up after downtime over the due time, and each event
exactly once with two replicas racing for every due item."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import datetime, timedelta

from advocacy.content.v1 import content_pb2
from advocacy.content.v1.content_pb2 import ContentPublished, ContentStatus

from services.common.events import from_timestamp, utcnow
from services.platform.supervisor import Platform
from tests.conftest import make_isolated
from tests.integration.content_harness import (
    approved,
    content_process,
    distinct,
    eventually,
    read_events,
    read_records,
    serving,
    stub,
    ts,
)

S = ContentStatus
ITEMS = 12
# "Within a couple of seconds": the scheduler scans every 0.2 s here, the relay sends at once.
PUNCTUAL = timedelta(seconds=2)
STAGGER = timedelta(milliseconds=37)


async def sleep_until(when: datetime) -> None:
    await asyncio.sleep(max(0.0, (when - utcnow()).total_seconds()))


async def start_together(replicas: list[Platform]) -> None:
    """Starts every replica and returns once all of them serve."""
    for replica in replicas:
        replica.start_service("content")
    await asyncio.gather(*(asyncio.to_thread(r.wait_serving, "content", 90.0) for r in replicas))


async def all_in(content, items: list[content_pb2.ContentItem], status: int) -> bool:
    got = [await content.GetContent(content_pb2.GetContentRequest(content_id=i.content_id)) for i in items]
    return all(g.status == status for g in got)


def claims(replica: Platform) -> Counter[tuple[str, str]]:
    """The scheduled transitions this replica won, by (content id, action), from its log."""
    won: Counter[tuple[str, str]] = Counter()
    with (replica.log_dir / "content.log").open() as log:
        for line in log:
            if line.startswith("{") and (entry := json.loads(line)).get("event") == "scheduled_transition":
                won[(entry["content_id"], entry["action"])] += 1
    return won


async def test_a_restart_before_publish_at_keeps_publication_and_expiry_punctual(stack, figures):
    isolated = make_isolated(stack)
    # Far enough ahead for a SIGTERM and a fresh start (about 3 s here; asserted below).
    publish_at = utcnow() + timedelta(seconds=10)
    expires_at = publish_at + timedelta(seconds=3)
    async with serving(isolated) as (_, content):
        item = await approved(content, title="Scheduled", publish_at=ts(publish_at), expires_at=ts(expires_at))
        assert item.status == S.CONTENT_STATUS_APPROVED
    # `serving` stopped it with SIGTERM and checked it exited 0; the schedule lives in the database only.
    async with serving(isolated) as (_, content):
        restarted_at = utcnow()
        assert restarted_at < publish_at, f"the restart ended {restarted_at - publish_at} after publish_at"
        records = await read_records(
            isolated.stack.kafka_bootstrap,
            f"{isolated.prefix}content-published",
            lambda evs: bool(distinct(evs, item.content_id, ContentPublished.KIND_EXPIRED)),
            within=(expires_at - utcnow()).total_seconds() + 30,
        )
        final = await content.GetContent(content_pb2.GetContentRequest(content_id=item.content_id))
    assert final.status == S.CONTENT_STATUS_EXPIRED

    def one(kind: int) -> tuple[ContentPublished, datetime]:
        of_kind = [(e, sent) for e, sent in records if e.item.content_id == item.content_id and e.kind == kind]
        assert len({e.event_id for e, _ in of_kind}) == 1, f"{len(of_kind)} events of kind {kind}"
        return of_kind[0]

    published, published_sent = one(ContentPublished.KIND_PUBLISHED)
    expired, expired_sent = one(ContentPublished.KIND_EXPIRED)
    # Never early, and on Kafka within a couple of seconds of the due time.
    assert from_timestamp(published.occurred_at) >= publish_at
    assert from_timestamp(published.item.published_at) >= publish_at
    assert published_sent - publish_at <= PUNCTUAL
    assert from_timestamp(expired.occurred_at) >= expires_at
    assert expired_sent - expires_at <= PUNCTUAL
    figures(
        f"restart done {(publish_at - restarted_at).total_seconds():.1f} s before publish_at; "
        f"PUBLISHED sent {(published_sent - publish_at).total_seconds():.2f} s after publish_at, "
        f"EXPIRED {(expired_sent - expires_at).total_seconds():.2f} s after expires_at"
    )


async def test_two_replicas_race_for_every_due_item_and_emit_each_event_once(stack, figures):
    isolated = make_isolated(stack)
    replicas = [content_process(isolated, replica=r) for r in (0, 1)]
    await start_together(replicas)
    channel, content = stub(replicas[0])
    # Ahead enough to create the items (about 2 s here; asserted below), no more: this is waiting time.
    publish_at = utcnow() + timedelta(seconds=7)
    expires_at = publish_at + timedelta(seconds=5)
    try:
        # Due times 37 ms apart (spanning two scans) rather than all at once: whichever replica scans
        # first would otherwise take every item in one sweep, and the other would hardly take part.
        items = [
            await approved(
                content,
                title=f"Scheduled {i}",
                publish_at=ts(publish_at + i * STAGGER),
                expires_at=ts(expires_at + i * STAGGER),
            )
            for i in range(ITEMS)
        ]
        # Publish before publish_at confirms the schedule: the item stays APPROVED, nothing is emitted.
        confirmed = await content.Publish(content_pb2.TransitionRequest(content_id=items[0].content_id))
        assert confirmed.status == S.CONTENT_STATUS_APPROVED and confirmed.version == items[0].version
        # The barrier: both replicas serve, and so scan every 0.2 s, before anything is due.
        assert utcnow() < publish_at, "items created too slowly: both replicas must be up before publish_at"
        assert [r.exited() for r in replicas] == [{}, {}]

        assert await eventually(lambda: all_in(content, items, S.CONTENT_STATUS_PUBLISHED), within=30)
    finally:
        await channel.close()
        codes = [r.stop() for r in replicas]
    assert codes == [{"content": 0}, {"content": 0}]

    # Both are down while the expiry passes; started together they catch up, racing again.
    await sleep_until(expires_at + ITEMS * STAGGER + timedelta(seconds=0.5))
    down_until = utcnow()
    await start_together(replicas)
    channel, content = stub(replicas[1])
    try:
        assert await eventually(lambda: all_in(content, items, S.CONTENT_STATUS_EXPIRED), within=60)
        events = await read_events(
            isolated.stack.kafka_bootstrap,
            f"{isolated.prefix}content-published",
            lambda evs: all(distinct(evs, i.content_id, ContentPublished.KIND_EXPIRED) for i in items),
            within=60,
        )
    finally:
        await channel.close()
        codes = [r.stop() for r in replicas]
    assert codes == [{"content": 0}, {"content": 0}]

    for item in items:
        # Exactly one event per transition, however many replicas raced for it.
        assert len(distinct(events, item.content_id, ContentPublished.KIND_PUBLISHED)) == 1
        assert len(distinct(events, item.content_id, ContentPublished.KIND_EXPIRED)) == 1
    assert all(
        from_timestamp(e.item.published_at) >= from_timestamp(e.item.publish_at)
        for e in events
        if e.kind == ContentPublished.KIND_PUBLISHED
    )
    assert all(from_timestamp(e.occurred_at) >= down_until for e in events if e.kind == ContentPublished.KIND_EXPIRED)
    # And exactly one replica won each claim (each logs the claims it won).
    won = [claims(r) for r in replicas]
    assert won[0] + won[1] == Counter({(i.content_id, a): 1 for i in items for a in ("publish", "expire")})
    figures(
        "claims won (publish, expire): "
        + ", ".join(
            f"replica {n}: {sum(v for (_, a), v in w.items() if a == 'publish')}, "
            f"{sum(v for (_, a), v in w.items() if a == 'expire')}"
            for n, w in enumerate(won)
        )
    )


async def test_an_item_whose_publication_and_expiry_passed_while_down_expires_unpublished(stack):
    isolated = make_isolated(stack)
    async with serving(isolated) as (_, content):
        # From when the service answers: its start can take seconds on a busy machine.
        publish_at = utcnow() + timedelta(seconds=3)
        expires_at = publish_at + timedelta(seconds=1)
        missed = await approved(content, title="Missed", publish_at=ts(publish_at), expires_at=ts(expires_at))
    await sleep_until(expires_at + timedelta(seconds=0.5))
    async with serving(isolated) as (_, content):
        # Published after the restart: once its event is on the topic, anything the scheduler sent
        # for the missed item on its first scans would be too.
        control = await approved(content, title="Control", publish_at=ts(utcnow() + timedelta(seconds=1)))
        events = await read_events(
            isolated.stack.kafka_bootstrap,
            f"{isolated.prefix}content-published",
            lambda evs: bool(distinct(evs, control.content_id, ContentPublished.KIND_PUBLISHED)),
            within=30,
        )
        final = await content.GetContent(content_pb2.GetContentRequest(content_id=missed.content_id))
    assert final.status == S.CONTENT_STATUS_EXPIRED
    assert not final.HasField("published_at")
    assert final.version == missed.version + 1  # APPROVED -> EXPIRED in one step
    assert [e.kind for e in events if e.item.content_id == missed.content_id] == []
