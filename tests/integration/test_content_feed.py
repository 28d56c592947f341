"""The personal feed on the real servers: the advocate view is built from `advocate-changed`
(produced here as the share service would), shares from `share-made`; targeting, ranking,
pagination, already-shared marks, items leaving at their expiry, advocates who left refused,
and dead-lettering of undecodable events."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import grpc
import pytest
from advocacy.content.v1 import content_pb2
from advocacy.content.v1.content_pb2 import ContentPublished
from aiokafka import AIOKafkaConsumer

from services.common.events import utcnow
from tests.conftest import make_isolated
from tests.integration.content_harness import (
    advocate_changed,
    approved,
    distinct,
    eventually,
    produce,
    published,
    read_events,
    serving,
    share_made,
    ts,
)


async def feed_ids(content, advocate_id: str, page_size: int = 100) -> list[str]:
    """Every page of the feed, in order."""
    ids: list[str] = []
    token = ""
    while True:
        page = await content.ListFeed(
            content_pb2.ListFeedRequest(advocate_id=advocate_id, page_size=page_size, page_token=token)
        )
        assert len(page.entries) <= page_size
        ids.extend(e.item.content_id for e in page.entries)
        token = page.next_page_token
        if not token:
            return ids


@pytest.fixture
async def service(stack):
    """A content process of this test's own (topic prefix, database), and a client of it."""
    isolated = make_isolated(stack)
    async with serving(isolated) as (_, content):
        yield isolated, content


async def known_feed(content, advocate_id: str, not_yet: grpc.StatusCode = grpc.StatusCode.NOT_FOUND):
    """The feed's ids, or None while ListFeed still answers `not_yet` (the view follows Kafka)."""
    try:
        return await feed_ids(content, advocate_id)
    except grpc.aio.AioRpcError as err:
        assert err.code() == not_yet, err.details()
        return None


async def test_targeting_ranking_pagination_and_shared_marks(service):
    isolated, content = service
    bootstrap = isolated.stack.kafka_bootstrap
    # The share service announces two advocates; a stale older record for `aino` comes last
    # (out of order) and must not overwrite her newer state.
    # (Kafka keeps a key's records in order; BSON dates have millisecond precision, so "older" is an hour.)
    stale = advocate_changed(
        "aino", ("cooking",), utcnow() - timedelta(hours=1), team="hr", location="Oslo", language="no", role="x"
    )
    await produce(
        bootstrap,
        f"{isolated.prefix}advocate-changed",
        [
            (
                "aino",
                advocate_changed("aino", ("AI",), team="sales", location="Helsinki", language="fi", role="rep"),
            ),
            ("bo", advocate_changed("bo", ("ai",), team="hr", location="Berlin", language="de", role="rep")),
        ],
    )
    await produce(bootstrap, f"{isolated.prefix}advocate-changed", [("aino", stale)])

    sales_ai = await published(content, title="Sales AI", topics=["ai"], audience=content_pb2.Audience(teams=["Sales"]))
    everyone = await published(content, title="For all", topics=["cooking"])
    hr_only = await published(content, title="HR only", audience=content_pb2.Audience(teams=["hr"]))
    german = await published(
        content, title="German", topics=["ai"], audience=content_pb2.Audience(languages=["de"], roles=["rep"])
    )
    helsinki_leads = await published(content, title="Leads", audience=content_pb2.Audience(roles=["lead"]))
    # Location targeting (values compare case-insensitively): Aino is in Helsinki, Bo in Berlin.
    helsinki = await published(
        content,
        title="Our Helsinki office opens",
        campaign_id="spring-2027",
        audience=content_pb2.Audience(locations=["helsinki"]),
    )
    # Not visible to anybody: a draft, an approved item scheduled for later, an archived item.
    draft = await content.CreateContent(
        content_pb2.CreateContentRequest(item=content_pb2.ContentItem(title="Draft", url="https://e.x/d"))
    )
    later = await approved(content, title="Later", publish_at=ts(utcnow() + timedelta(hours=1)))
    archived = await published(content, title="Withdrawn")
    await content.Archive(content_pb2.TransitionRequest(content_id=archived.content_id))
    invisible = {draft.content_id, later.content_id, archived.content_id, helsinki_leads.content_id}

    aino = await eventually(lambda: known_feed(content, "aino"), within=60)
    # Her team's AI item first (interest match), then her city's and the item for everyone, newest
    # first; never HR's or German's.
    assert aino == [sales_ai.content_id, helsinki.content_id, everyone.content_id]
    bo = await eventually(lambda: feed_ids(content, "bo"), within=30)  # interest match first, then newest first
    assert bo == [german.content_id, hr_only.content_id, everyone.content_id]
    assert invisible.isdisjoint(aino + bo)

    # The campaign travels with the item: in the feed, in GetContent and in its PUBLISHED event.
    aino_page = await content.ListFeed(content_pb2.ListFeedRequest(advocate_id="aino"))
    assert aino_page.entries[1].item.campaign_id == "spring-2027"
    got = await content.GetContent(content_pb2.GetContentRequest(content_id=helsinki.content_id))
    assert got.campaign_id == "spring-2027"
    events = await read_events(
        bootstrap,
        f"{isolated.prefix}content-published",
        lambda evs: distinct(evs, helsinki.content_id, ContentPublished.KIND_PUBLISHED),
        within=30,
    )
    [announced] = [
        e for e in events if e.item.content_id == helsinki.content_id and e.kind == ContentPublished.KIND_PUBLISHED
    ]
    assert announced.item.campaign_id == "spring-2027"
    assert list(announced.item.audience.locations) == ["helsinki"]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await content.ListFeed(content_pb2.ListFeedRequest(advocate_id="nobody"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND

    # Shares (one redelivered) mark the item for its sharer only.
    share_event = share_made("aino", sales_ai.content_id)
    await produce(
        bootstrap,
        f"{isolated.prefix}share-made",
        [("aino", share_event), ("aino", share_event), ("bo", share_made("bo", german.content_id))],
    )

    async def marked():
        page = await content.ListFeed(content_pb2.ListFeedRequest(advocate_id="aino"))
        return page if page.entries[0].already_shared else None

    page = await eventually(marked, within=30)
    assert [e.already_shared for e in page.entries] == [True, False, False]
    assert list(page.entries[0].matched_interests) == ["ai"]
    assert page.entries[0].score > page.entries[1].score

    # Pagination: twelve more items for everyone; every page size walks the same order once.
    for i in range(12):
        await published(content, title=f"News {i}", topics=["ai"] if i % 3 == 0 else [])
    full = await feed_ids(content, "aino", page_size=100)
    assert len(full) == 15 and len(set(full)) == 15
    for size in (1, 5):
        assert await feed_ids(content, "aino", page_size=size) == full
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await content.ListFeed(content_pb2.ListFeedRequest(advocate_id="aino", page_token="garbage"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in err.value.details()


async def test_undecodable_events_are_dead_lettered_and_the_view_goes_on(service):
    isolated, content = service
    bootstrap = isolated.stack.kafka_bootstrap
    topic = f"{isolated.prefix}advocate-changed"
    nobody = advocate_changed("")  # valid protobuf, but whose state would it be?
    await produce(
        bootstrap,
        topic,
        [("x", b"\xff\xff not protobuf"), ("y", nobody), ("cai", advocate_changed("cai", team="it"))],
    )
    item = await published(content, title="For IT", audience=content_pb2.Audience(teams=["IT"]))

    assert await eventually(lambda: known_feed(content, "cai"), within=60) == [item.content_id]
    consumer = AIOKafkaConsumer(
        f"{topic}.dlq", bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        records = [await asyncio.wait_for(consumer.getone(), timeout=30) for _ in range(2)]
    finally:
        await consumer.stop()
    by_reason = {dict(r.headers)["dlq.reason"]: r for r in records}
    assert by_reason[b"undecodable_value"].value == b"\xff\xff not protobuf"
    assert by_reason[b"invalid"].value == nobody
    assert b"advocate_id" in dict(by_reason[b"invalid"].headers)["dlq.error"]
    assert all(dict(r.headers)["dlq.origin"].decode().startswith(f"{topic}/") for r in records)


async def test_a_left_advocate_is_refused_a_feed_until_re_enrolled(service):
    isolated, content = service
    bootstrap = isolated.stack.kafka_bootstrap
    topic = f"{isolated.prefix}advocate-changed"
    await produce(bootstrap, topic, [("dana", advocate_changed("dana", team="it"))])
    item = await published(content, title="For everyone")
    assert await eventually(lambda: known_feed(content, "dana"), within=60) == [item.content_id]

    # The share service announces that she left the programme.
    await produce(bootstrap, topic, [("dana", advocate_changed("dana", team="it", enrolled=False))])

    async def refused():
        try:
            await content.ListFeed(content_pb2.ListFeedRequest(advocate_id="dana"))
        except grpc.aio.AioRpcError as err:
            return err
        return None

    err = await eventually(refused, within=30)
    assert err is not None, "a left advocate still got a feed"
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert err.details().startswith("advocate_id:") and "not enrolled" in err.details()

    # Re-enrolling brings the feed back.
    await produce(bootstrap, topic, [("dana", advocate_changed("dana", team="it"))])
    back = await eventually(lambda: known_feed(content, "dana", grpc.StatusCode.FAILED_PRECONDITION), within=30)
    assert back == [item.content_id]


async def test_an_item_leaves_the_feed_when_it_expires(service):
    isolated, content = service
    await produce(
        isolated.stack.kafka_bootstrap, f"{isolated.prefix}advocate-changed", [("eli", advocate_changed("eli"))]
    )
    lasting = await published(content, title="Lasting")
    assert await eventually(lambda: known_feed(content, "eli"), within=60) == [lasting.content_id]

    # Seconds ahead: long enough to see it (publishing takes milliseconds), short enough to wait for.
    expires_at = utcnow() + timedelta(seconds=4)
    brief = await published(content, title="Brief", expires_at=ts(expires_at))
    assert await feed_ids(content, "eli") == [brief.content_id, lasting.content_id]  # newest first
    assert utcnow() < expires_at

    await asyncio.sleep((expires_at - utcnow()).total_seconds() + 0.1)
    # Gone at once: the feed compares expires_at itself rather than waiting for the scheduler's EXPIRED.
    assert await feed_ids(content, "eli") == [lasting.content_id]

    async def expired():
        got = await content.GetContent(content_pb2.GetContentRequest(content_id=brief.content_id))
        return got.status == content_pb2.CONTENT_STATUS_EXPIRED

    assert await eventually(expired, within=10)
    assert await feed_ids(content, "eli") == [lasting.content_id]
