"""The rate card on the real MongoDB-protocol server: versions stored by `_id`, races between two
admins, and two analytics replicas (servicers over one database) pricing the same stored counts
with the version in force, each response naming it."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from advocacy.analytics.v1 import analytics_pb2 as pb
from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.share.v1 import share_pb2 as spb
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_interceptor.exceptions import InvalidArgument, NotFound
from pymongo import AsyncMongoClient

from services.analytics.adapters.rate_cards import CURRENT, RateCardRepository
from services.analytics.api.servicer import AnalyticsServicer
from services.analytics.app.rate_cards import RateCards
from services.analytics.domain.metrics import RateCard
from services.common.read_cache import ReadCache
from tests.integration.analytics_harness import Worker

NOW = datetime.now(UTC)
SEED = {"LINKEDIN": RateCard(30.0, 5.0, 0.5)}


def ts(at: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(at)
    return out


@pytest.fixture
async def db(isolated):
    mongo = AsyncMongoClient(isolated.stack.mongo_url, tz_aware=True)
    yield mongo[isolated.database]
    await mongo.close()


async def test_versions_are_stored_by_id_and_a_race_takes_distinct_numbers(db):
    repo = RateCardRepository(db)
    assert await repo.current() is None
    first = await repo.seed("EUR", SEED)
    assert (first.version, first.currency, first.rates, first.created_by) == (1, "EUR", SEED, "settings")
    assert (await repo.seed("USD", {"X": RateCard(1.0, 1.0, 1.0)})).currency == "EUR"  # seeds once

    # Ten admins at once: ten versions, 2..11, none lost, the newest in force.
    stored = await asyncio.gather(
        *(repo.put("CHF", {"LINKEDIN": RateCard(float(i), 1.0, 1.0)}, f"admin-{i}") for i in range(10))
    )
    assert sorted(c.version for c in stored) == list(range(2, 12))
    assert (await repo.current()).version == 11  # type: ignore[union-attr]
    for card in stored:
        again = await repo.get(card.version)
        assert again is not None and (again.rates, again.created_by) == (card.rates, card.created_by)

    # The pointer is a hint: left behind (a writer stopped after its insert), reads still find the newest.
    await db["rate_cards"].update_one({"_id": CURRENT}, {"$set": {"version": 3}})
    assert (await repo.current()).version == 11  # type: ignore[union-attr]
    assert (await repo.put("CHF", SEED, "admin")).version == 12


async def _facts(db) -> None:
    """One LinkedIn share of c1 with 2,000 impressions, 3 reactions and one unique click."""
    worker = Worker(db, lateness=timedelta(hours=48))
    advocate = AdvocateSnapshot(advocate_id="a1", team="red")
    share = spb.Share(share_id="s1", content_id="c1", advocate_id="a1", network=Network.NETWORK_LINKEDIN)
    share.audience_size = 500
    await worker.feed(
        (
            0,
            spb.ShareMade(
                event_id="e-share", occurred_at=ts(NOW - timedelta(minutes=9)), share=share, advocate=advocate
            ),
        )
    )
    for offset, (event_id, kind, count) in enumerate(
        (
            ("e-imp", spb.ENGAGEMENT_KIND_IMPRESSION, 2000),
            ("e-react", spb.ENGAGEMENT_KIND_REACTION, 3),
            ("e-click", spb.ENGAGEMENT_KIND_CLICK, 1),
        )
    ):
        event = spb.EngagementObserved(
            event_id=event_id,
            occurred_at=ts(NOW - timedelta(minutes=5)),
            share_id="s1",
            content_id="c1",
            advocate=advocate,
            network=Network.NETWORK_LINKEDIN,
            kind=kind,
            count=count,
            actor_fingerprint="reader-1",
        )
        await worker.feed((offset, event))


def replica(db, refresh_seconds: float) -> AnalyticsServicer:
    queries = Worker(db).queries()
    cards = RateCards(lambda: RateCardRepository(db), "EUR", SEED, refresh_seconds)
    # A stats cache far longer than the test: only the rate card version can make figures change.
    return AnalyticsServicer(queries, ReadCache(ttl=600, max_stale=600), rate_cards=cards)


ITEM = pb.GetStatsRequest(dimension=pb.DIMENSION_CONTENT, key="c1", granularity=pb.GRANULARITY_ALL_TIME)


async def emv(servicer: AnalyticsServicer) -> tuple[float, int, str]:
    series = await servicer.GetStats(ITEM, None)
    return series.points[0].earned_media_value, series.rate_card_version, series.currency


async def test_a_put_reprices_stored_counts_on_every_replica_without_a_restart(db):
    await _facts(db)
    here, there = replica(db, refresh_seconds=1.0), replica(db, refresh_seconds=1.0)
    before = 30 * 2000 / 1000 + 5 * (0.5 * 3 + 1)
    assert await emv(here) == (pytest.approx(before), 1, "EUR")
    assert await emv(there) == (pytest.approx(before), 1, "EUR")

    put = pb.PutRateCardRequest(
        rate_card=pb.RateCard(
            currency="CHF",
            rates=[pb.NetworkRate(network=Network.NETWORK_LINKEDIN, cpm=60, cpc=10, reaction_multiplier=1)],
        )
    )
    stored = await here.PutRateCard(put, None)
    assert (stored.version, stored.currency, stored.HasField("created_at")) == (2, "CHF", True)
    after = 60 * 2000 / 1000 + 10 * (1 * 3 + 1)
    assert await emv(here) == (pytest.approx(after), 2, "CHF")  # at once on the replica that stored it

    # The other replica within its refresh period (1 s) plus a read.
    deadline = asyncio.get_running_loop().time() + 1.0 + 2.0
    while (seen := await emv(there))[1] != 2:
        assert asyncio.get_running_loop().time() < deadline, seen
        await asyncio.sleep(0.05)
    assert seen == (pytest.approx(after), 2, "CHF")

    # Every other response with an EMV figure names the version and currency it was priced with.
    top = await there.TopContent(pb.TopContentRequest(metric=pb.TOP_METRIC_EARNED_MEDIA_VALUE), None)
    assert (top.rate_card_version, top.currency, top.entries[0].stats.earned_media_value) == (2, "CHF", after)
    overview = await there.GetProgramOverview(pb.GetProgramOverviewRequest(), None)
    assert (overview.rate_card_version, overview.currency, overview.totals.earned_media_value) == (2, "CHF", after)
    export = await there.ExportStatsCsv(ITEM, None)
    [row] = list(csv.DictReader(io.StringIO(export.csv)))
    assert (export.rate_card_version, row["rate_card_version"], row["currency"]) == (2, "2", "CHF")
    assert float(row["earned_media_value"]) == pytest.approx(after) and export.filename.endswith("-CHF.csv")

    # The old version stays readable; GetRateCard without a version is the newest.
    assert (await there.GetRateCard(pb.GetRateCardRequest(), None)).version == 2
    old = await there.GetRateCard(pb.GetRateCardRequest(version=1), None)
    assert (old.currency, old.created_by, [r.cpm for r in old.rates]) == ("EUR", "settings", [30.0])


@pytest.mark.parametrize(
    ("card", "field"),
    [
        (pb.RateCard(currency="eur", rates=[pb.NetworkRate(network=Network.NETWORK_X)]), "rate_card.currency"),
        (pb.RateCard(currency="EUR"), "rate_card.rates"),
        (pb.RateCard(currency="EUR", rates=[pb.NetworkRate(network=0)]), "rate_card.rates[0].network"),
        (pb.RateCard(currency="EUR", rates=[pb.NetworkRate(network=42)]), "rate_card.rates[0].network"),
        (pb.RateCard(currency="EUR", rates=[pb.NetworkRate(network=1, cpc=-1)]), "rate_card.rates[0].cpc"),
        (pb.RateCard(currency="EUR", rates=[pb.NetworkRate(network=1, cpm=float("nan"))]), "rate_card.rates[0].cpm"),
    ],
)
async def test_bad_values_are_invalid_arguments_and_store_nothing(db, card, field):
    servicer = replica(db, refresh_seconds=0)
    with pytest.raises(InvalidArgument) as err:
        await servicer.PutRateCard(pb.PutRateCardRequest(rate_card=card), None)
    assert str(err.value.details).startswith(field)
    assert (await servicer.GetRateCard(pb.GetRateCardRequest(), None)).version == 1
    with pytest.raises(NotFound):
        await servicer.GetRateCard(pb.GetRateCardRequest(version=2), None)
