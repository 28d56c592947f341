"""Pagination of the List RPCs and TopContent on the real MongoDB-protocol server: following
next_page_token lists every element exactly once (ties in the sort key included), and a token
that is not one of ours, or belongs to another request, is refused with INVALID_ARGUMENT."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from advocacy.analytics.v1 import analytics_pb2 as pb
from advocacy.content.v1 import content_pb2
from advocacy.rewards.v1 import rewards_pb2
from grpc_interceptor.exceptions import InvalidArgument
from pymongo import AsyncMongoClient

from services.analytics.adapters.rate_cards import RateCardRepository
from services.analytics.api.servicer import AnalyticsServicer
from services.analytics.app.ports import ContentState
from services.analytics.app.rate_cards import RateCards
from services.analytics.domain.audience import AudienceRule
from services.analytics.domain.fact import fact_document
from services.analytics.domain.metrics import Totals
from services.content.adapters.sources import SourceRepository
from services.content.api.sources import SourceAdmin
from services.rewards.adapters.ledger import ledger_document
from tests.integration.analytics_harness import Worker
from tests.integration.rewards_harness import Harness

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


async def follow(call: Callable[[str], Awaitable[Any]], items: str) -> tuple[list[Any], int]:
    """Every element of every page, and the number of pages."""
    out: list[Any] = []
    token, pages = "", 0
    while True:
        reply = await call(token)
        out.extend(getattr(reply, items))
        pages += 1
        token = reply.next_page_token
        if not token:
            return out, pages


@pytest.fixture
async def db(isolated):
    mongo = AsyncMongoClient(isolated.stack.mongo_url, tz_aware=True)
    yield mongo[isolated.database]
    await mongo.close()


# --- rewards --------------------------------------------------------------------------------------


async def test_list_ledger_reads_past_500_entries_newest_first_each_once(db):
    h = Harness(db)
    await h.ledger.ensure_indexes()
    # 620 entries, five per second: pages must split ties on occurred_at by entry id.
    docs = [
        ledger_document(
            source_event_id=f"ev-{i:04}",
            rule="share",
            advocate_id="aino",
            points=10,
            rule_set_version=1,
            campaign_id="",
            content_id="c1",
            occurred_at=T0 + timedelta(seconds=i // 5),
        )
        for i in range(620)
    ]
    docs.append({**docs[0], "_id": "someone-else", "advocate_id": "bob"})
    assert await h.ledger.insert(docs) == 621
    servicer = h.servicer()

    def page(size: int) -> Callable[[str], Awaitable[rewards_pb2.ListLedgerResponse]]:
        return lambda token: servicer.ListLedger(
            rewards_pb2.ListLedgerRequest(advocate_id="aino", page_size=size, page_token=token), None
        )

    expected = sorted(((d["occurred_at"], d["_id"]) for d in docs[:620]), reverse=True)
    for size, pages in ((500, 2), (37, 17)):
        entries, count = await follow(page(size), "entries")
        assert [(e.occurred_at.ToDatetime(UTC), e.entry_id) for e in entries] == expected
        assert count == pages
    default = await servicer.ListLedger(rewards_pb2.ListLedgerRequest(advocate_id="aino"), None)
    assert len(default.entries) == 50 and default.next_page_token

    with pytest.raises(InvalidArgument, match="page_token: not a token"):
        await servicer.ListLedger(rewards_pb2.ListLedgerRequest(advocate_id="aino", page_token="bm9wZQ=="), None)
    with pytest.raises(InvalidArgument, match="page_token: issued for a request with other parameters"):
        await servicer.ListLedger(
            rewards_pb2.ListLedgerRequest(advocate_id="bob", page_token=default.next_page_token), None
        )
    with pytest.raises(InvalidArgument, match=r"page_size: must be 0\.\.500"):
        await servicer.ListLedger(rewards_pb2.ListLedgerRequest(advocate_id="aino", page_size=501), None)


async def test_list_catalog_pages_by_item_id(db):
    h = Harness(db)
    await h.catalog.ensure_indexes()
    servicer = h.servicer()
    ids = [f"item-{i:02}" for i in range(23)]
    for i in reversed(ids):
        item = rewards_pb2.CatalogItem(item_id=i, name=i.title(), cost=5, stock=1)
        await servicer.UpsertCatalogItem(rewards_pb2.UpsertCatalogItemRequest(item=item), None)
    items, pages = await follow(
        lambda token: servicer.ListCatalog(rewards_pb2.ListCatalogRequest(page_size=5, page_token=token), None),
        "items",
    )
    assert [i.item_id for i in items] == ids and pages == 5
    everything = await servicer.ListCatalog(rewards_pb2.ListCatalogRequest(), None)  # default 100
    assert [i.item_id for i in everything.items] == ids and not everything.next_page_token
    with pytest.raises(InvalidArgument, match="page_token"):
        await servicer.ListCatalog(rewards_pb2.ListCatalogRequest(page_token="%%%"), None)


# --- content --------------------------------------------------------------------------------------


async def test_list_sources_pages_by_source_id(db):
    repo = SourceRepository(db)
    ids = [f"src-{i:02}" for i in range(17)]
    for source_id in reversed(ids):
        await repo.insert(content_pb2.FeedSource(source_id=source_id, url=f"https://example.com/{source_id}.xml"))
    admin = SourceAdmin(repo, new_id=lambda: "unused", min_interval_seconds=60)
    sources, pages = await follow(
        lambda token: admin.list(content_pb2.ListSourcesRequest(page_size=4, page_token=token)), "sources"
    )
    assert [s.source_id for s in sources] == ids and pages == 5
    with pytest.raises(InvalidArgument, match="page_token: not a token"):
        await admin.list(content_pb2.ListSourcesRequest(page_token=sources[0].source_id))


# --- analytics ------------------------------------------------------------------------------------


def share_fact(event_id: str, content_id: str, at: datetime, reach: int, comment: str = "") -> dict[str, Any]:
    return fact_document(
        event_id=event_id,
        kind="comment" if comment else "share",
        content_id=content_id,
        advocate_id=f"adv-{event_id}",
        team="red",
        leader=False,
        campaign_id="",
        network="LINKEDIN",
        occurred_at=at,
        received_at=at,
        too_late=False,
        totals=Totals(comments=1) if comment else Totals(shares=1, potential_reach=reach),
        comment_text=comment,
    )


@pytest.fixture
async def analytics(db):
    worker = Worker(db)
    await worker.repo.ensure_indexes()
    cards = RateCards(lambda: RateCardRepository(db), "EUR", {})
    return worker, AnalyticsServicer(worker.queries(), rate_cards=cards)


async def test_top_content_pages_over_the_whole_ranking(analytics):
    worker, servicer = analytics
    # 26 items; pairs share a reach, so the ranking's ties are broken by content_id across pages.
    facts = [share_fact(f"e{i}", f"c{i:02}", T0 + timedelta(minutes=i), reach=100 * (i // 2)) for i in range(26)]
    await worker.feed_facts(facts)
    metric = pb.TOP_METRIC_POTENTIAL_REACH
    entries, pages = await follow(
        lambda token: servicer.TopContent(pb.TopContentRequest(metric=metric, page_size=4, page_token=token), None),
        "entries",
    )
    expected = sorted((-f["potential_reach"], f["content_id"]) for f in facts)
    assert [(-e.stats.potential_reach, e.content_id) for e in entries] == expected and pages == 7
    # Older clients: `limit` alone is the first page (with a token for the rest now).
    first = await servicer.TopContent(pb.TopContentRequest(metric=metric, limit=3), None)
    assert [e.content_id for e in first.entries] == [c for _, c in expected[:3]] and first.next_page_token
    with pytest.raises(InvalidArgument, match="other parameters"):
        await servicer.TopContent(
            pb.TopContentRequest(metric=pb.TOP_METRIC_ENGAGEMENTS, page_token=first.next_page_token), None
        )
    with pytest.raises(InvalidArgument, match=r"page_size: must be 0\.\.100"):
        await servicer.TopContent(pb.TopContentRequest(metric=metric, page_size=101), None)


async def test_list_comments_pages_oldest_first(analytics):
    worker, servicer = analytics
    await worker.repo.upsert_content(ContentState("c1", "author", "", "Plant", AudienceRule()), T0)
    # Three comments per second: ties on occurred_at again.
    facts = [share_fact(f"k{i:02}", "c1", T0 + timedelta(seconds=i // 3), 0, comment=f"#{i}") for i in range(20)]
    await worker.feed_facts([*facts, share_fact("other", "c2", T0, 0, comment="elsewhere")])
    comments, pages = await follow(
        lambda token: servicer.ListComments(
            pb.ListCommentsRequest(content_id="c1", requester_id="author", page_size=6, page_token=token), None
        ),
        "comments",
    )
    assert [c.event_id for c in comments] == [f"k{i:02}" for i in range(20)] and pages == 4
    with pytest.raises(InvalidArgument, match="page_token"):
        await servicer.ListComments(
            pb.ListCommentsRequest(content_id="c1", requester_id="author", page_token="e30="), None
        )


async def test_a_long_hourly_series_and_its_csv_export_come_in_pages_of_windows(analytics):
    worker, servicer = analytics
    # Shares in 40 of the 97 hours from T0 (sparse: hours 0, 1, 5, 6, 10, 11, ... 95, 96).
    facts = [share_fact(f"s{h}", "c1", T0 + timedelta(hours=h, minutes=10), reach=h + 1) for h in range(0, 100, 5)]
    facts += [share_fact(f"t{h}", "c1", T0 + timedelta(hours=h, minutes=20), reach=1) for h in range(1, 100, 5)]
    await worker.feed_facts(facts)
    hourly = pb.GetStatsRequest(dimension=pb.DIMENSION_CONTENT, key="c1", granularity=pb.GRANULARITY_HOUR)
    whole = await servicer.GetStats(hourly, None)
    assert len(whole.points) == 40 and not whole.next_page_token and whole.total_windows == 0  # not paged

    def paged(request: pb.GetStatsRequest, size: int) -> Callable[[str], Awaitable[pb.StatsSeries]]:
        def call(token: str) -> Awaitable[pb.StatsSeries]:
            ask = pb.GetStatsRequest()
            ask.CopyFrom(request)
            ask.page_size, ask.page_token = size, token
            return servicer.GetStats(ask, None)

        return call

    points, pages = await follow(paged(hourly, 7), "points")
    assert points == list(whole.points) and pages == 14  # windows T0 .. T0+96h: 97 windows
    first = await servicer.GetStats(pb.GetStatsRequest(**_fields(hourly), page_size=7), None)
    assert first.total_windows == 97 and len(first.points) == 4  # hours 0, 1, 5 and 6

    # A bounded range not on window boundaries: the same clipped windows as the whole series.
    bounded = pb.GetStatsRequest(**_fields(hourly))
    bounded.start.FromDatetime(T0 + timedelta(minutes=15))
    bounded.end.FromDatetime(T0 + timedelta(hours=50, minutes=15))
    points, pages = await follow(paged(bounded, 10), "points")
    assert points == list((await servicer.GetStats(bounded, None)).points) and pages == 6

    async def export(token: str) -> pb.CsvExport:
        return await servicer.ExportStatsCsv(
            pb.GetStatsRequest(**_fields(hourly), page_size=30, page_token=token), None
        )

    csv, token, pages = "", "", 0
    while True:
        part = await export(token)
        csv, token, pages = csv + part.csv, part.next_page_token, pages + 1
        if not token:
            break
    assert csv == (await servicer.ExportStatsCsv(hourly, None)).csv and pages == 4

    with pytest.raises(InvalidArgument, match="other parameters"):
        other = pb.GetStatsRequest(**{**_fields(hourly), "key": "c2"}, page_token=first.next_page_token)
        await servicer.GetStats(other, None)
    with pytest.raises(InvalidArgument, match=r"page_size: must be 0\.\.1000"):
        await servicer.GetStats(pb.GetStatsRequest(**_fields(hourly), page_size=1001), None)


def _fields(request: pb.GetStatsRequest) -> dict[str, Any]:
    return {"dimension": request.dimension, "key": request.key, "granularity": request.granularity}
