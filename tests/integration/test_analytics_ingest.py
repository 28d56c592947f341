"""Ingest on the real MongoDB-protocol server: a redelivered event never has a second effect."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from advocacy.analytics.v1 import analytics_pb2 as pb
from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.share.v1 import share_pb2 as spb
from google.protobuf.timestamp_pb2 import Timestamp
from pymongo import AsyncMongoClient

from services.analytics.adapters.facts import AnalyticsRepository
from services.analytics.adapters.rate_cards import RateCardRepository
from services.analytics.api.servicer import AnalyticsServicer
from services.analytics.app.ingest import Ingest, InvalidEvent
from services.analytics.app.queries import AnalyticsQueries
from services.analytics.app.rate_cards import RateCards
from services.analytics.domain.report import Config
from services.analytics.domain.windows import Granularity
from services.common.read_cache import ReadCache
from tests.integration.analytics_harness import Worker

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def ts(at: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(at)
    return out


def click(event_id: str, at: datetime, fp: str = "f1", **kw: bool) -> spb.EngagementObserved:
    return spb.EngagementObserved(
        event_id=event_id,
        occurred_at=ts(at),
        share_id="s1",
        content_id="c1",
        advocate=AdvocateSnapshot(advocate_id="a1", team="red"),
        network=Network.NETWORK_LINKEDIN,
        kind=spb.ENGAGEMENT_KIND_CLICK,
        count=1,
        actor_fingerprint=fp,
        **kw,
    )


async def test_duplicates_late_and_unique_clicks(isolated):
    mongo = AsyncMongoClient(isolated.stack.mongo_url, tz_aware=True)
    worker = Worker(mongo[isolated.database], clock=lambda: NOW)
    await worker.repo.ensure_indexes()
    share = spb.ShareMade(
        event_id="e-share",
        occurred_at=ts(NOW - timedelta(minutes=5)),
        share=spb.Share(share_id="s1", content_id="c1", advocate_id="a1", network=1, audience_size=700),
        advocate=AdvocateSnapshot(advocate_id="a1", team="red"),
    )
    await worker.feed((0, share))
    await worker.feed((0, share))  # redelivery of the record
    await worker.feed((1, share))  # the same event in a second record: not counted again
    t0 = NOW - timedelta(minutes=20)
    await worker.feed((0, click("k1", t0)), (1, click("k2", t0 + timedelta(minutes=5))))  # same slot: one click
    await worker.feed((0, click("k1", t0)))  # redelivery of the owner
    await worker.feed((2, click("k3", t0, fp="f2", is_bot=True)), (3, click("k4", t0, fp="f3", is_self=True)))
    # Four hours old with two hours allowed: all-time only.
    await worker.feed((4, click("k5", NOW - timedelta(hours=4), fp="f9")))

    assert await worker.repo.facts.count_documents({}) == 6
    all_time = (await worker.totals())[None][0]
    assert (all_time.shares, all_time.potential_reach, all_time.clicks) == (1, 700, 2)
    hourly = await worker.totals(Granularity.HOUR)
    assert sum(t.clicks for ts_ in hourly.values() for t in ts_) == 1
    assert await worker.stats("c1") == (1, 1, 700)

    with pytest.raises(InvalidEvent):
        await worker.ingest.share_made(spb.ShareMade(occurred_at=ts(NOW)))
    await mongo.close()


async def test_a_repeated_share_adds_a_share_but_no_reach(isolated):
    mongo = AsyncMongoClient(isolated.stack.mongo_url, tz_aware=True)
    worker = Worker(mongo[isolated.database], clock=lambda: NOW)

    def shared(event_id: str, audience: int, network: int = Network.NETWORK_LINKEDIN) -> spb.ShareMade:
        return spb.ShareMade(
            event_id=event_id,
            occurred_at=ts(NOW - timedelta(minutes=5)),
            share=spb.Share(
                share_id=f"s-{event_id}", content_id="c1", advocate_id="a1", network=network, audience_size=audience
            ),
            advocate=AdvocateSnapshot(advocate_id="a1", team="red"),
        )

    await worker.feed((0, shared("first", 700)))
    # The same item, advocate and network again (one in the same batch as a new triple's share).
    await worker.feed((1, shared("again", 900)), (2, shared("x", 300, Network.NETWORK_X)))
    await worker.feed((0, shared("first", 700)))  # a redelivered first share: nothing changes
    await worker.feed((3, shared("third", 1000)))
    assert await worker.stats("c1") == (4, 1, 1000)  # 700 (LinkedIn, first share) + 300 (X)
    stored = {d["_id"]: d["potential_reach"] async for d in worker.repo.facts.find({})}
    assert stored == {"first": 700, "again": 0, "x": 300, "third": 0}
    await mongo.close()


async def test_only_the_newest_advocate_state_counts(isolated):
    mongo = AsyncMongoClient(isolated.stack.mongo_url, tz_aware=True)
    repo = AnalyticsRepository(mongo[isolated.database])
    ingest = Ingest(lambda: repo, timedelta(hours=2), clock=lambda: NOW)

    def changed(event_id: str, at: datetime, team: str) -> spb.AdvocateChanged:
        ev = spb.AdvocateChanged(
            event_id=event_id,
            occurred_at=ts(at),
            advocate=spb.Advocate(profile=AdvocateSnapshot(advocate_id="a1", team=team, leader=True)),
        )
        ev.enrolments.add().enrolled_at.CopyFrom(ts(at - timedelta(days=1)))
        return ev

    assert await ingest.advocate_changed(changed("v2", NOW, "blue"))
    assert not await ingest.advocate_changed(changed("v1", NOW - timedelta(hours=1), "red"))  # older: ignored
    assert not await ingest.advocate_changed(changed("v2", NOW, "blue"))  # redelivery
    [member] = await repo.all_advocates()
    assert (member.team, member.leader, member.periods[0].left_at) == ("blue", True, None)
    await mongo.close()


async def test_cached_figures_are_refreshed_after_their_ttl(isolated):
    """The stats cache as the service runs it, on the real database: repeated questions are
    answered from memory until the ttl, then the stale figures once while one refresh runs."""
    mongo = AsyncMongoClient(isolated.stack.mongo_url, tz_aware=True)
    worker = Worker(mongo[isolated.database], clock=lambda: NOW)
    queries = AnalyticsQueries(lambda: worker.reader, Config({}, {}, {}), "EUR")
    ttl = 1.0
    cards = RateCards(lambda: RateCardRepository(mongo[isolated.database]), "EUR", {})
    cached = AnalyticsServicer(queries, ReadCache(ttl=ttl, max_stale=60), rate_cards=cards)
    uncached = AnalyticsServicer(queries, rate_cards=cards)
    request = pb.GetStatsRequest(dimension=pb.DIMENSION_PROGRAM, granularity=pb.GRANULARITY_ALL_TIME)

    async def shares(servicer: AnalyticsServicer) -> tuple[int, int]:
        series = await servicer.GetStats(request, None)
        content = await servicer.GetContentStats(pb.GetContentStatsRequest(content_id="c1"), None)
        return series.points[0].shares, content.shares

    def share(n: int) -> spb.ShareMade:
        return spb.ShareMade(
            event_id=f"e-share-{n}",
            occurred_at=ts(NOW - timedelta(minutes=5)),
            share=spb.Share(share_id=f"s{n}", content_id="c1", advocate_id="a1", network=1, audience_size=700),
            advocate=AdvocateSnapshot(advocate_id="a1", team="red"),
        )

    await worker.feed((1, share(1)))
    assert await shares(cached) == (1, 1)
    await worker.feed((2, share(2)))
    assert await shares(uncached) == (2, 2)
    assert await shares(cached) == (1, 1)  # within the ttl: from memory
    await asyncio.sleep(ttl + 0.1)
    assert await shares(cached) == (1, 1)  # past it: the stale figures, while one refresh runs
    deadline = asyncio.get_running_loop().time() + 10
    while (seen := await shares(cached)) != (2, 2):
        assert asyncio.get_running_loop().time() < deadline, seen
        await asyncio.sleep(0.05)
    await mongo.close()


async def test_a_fact_stored_before_origins_is_rolled_up_once_on_replay(isolated):
    """A deployment upgraded from the facts design replays its topics: the stored facts (without
    an origin) are counted by the first record that carries them, a second record is not."""
    mongo = AsyncMongoClient(isolated.stack.mongo_url, tz_aware=True)
    worker = Worker(mongo[isolated.database], clock=lambda: NOW)
    share = spb.ShareMade(
        event_id="e-old",
        occurred_at=ts(NOW - timedelta(minutes=5)),
        share=spb.Share(share_id="s1", content_id="c1", advocate_id="a1", network=1, audience_size=700),
        advocate=AdvocateSnapshot(advocate_id="a1", team="red"),
    )
    old = worker.ingest.fact(share).doc
    await worker.repo.record_facts([old])  # as the facts design stored it: no origin
    await worker.feed((5, share))
    await worker.feed((6, share))  # the same event in another record
    assert await worker.stats("c1") == (1, 1, 700)
    await mongo.close()
