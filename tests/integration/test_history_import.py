"""History import over the real stack: the content and share services and the analytics worker as
processes on the real broker and FerretDB. Items are imported as published months ago, advocates
as enrolled in two past months, and their shares and own posts at past times; GetProgramHealth's
cohorts (enrolled, shared, days to first share, retention) and activity must then equal what this
test computes from the imported data with its own arithmetic; the rollups count the imported
shares in all-time figures only (late beyond the allowed lateness), and every share reached
`share-made` once, marked imported, at its past time. A repeated import records nothing new, and
a batch with one impossible entry records none of it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from advocacy.analytics.v1 import analytics_pb2 as apb
from advocacy.analytics.v1 import analytics_pb2_grpc
from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.content.v1 import content_pb2, content_pb2_grpc
from advocacy.share.v1 import share_pb2, share_pb2_grpc
from kafka import KafkaConsumer

from services.common.events import to_timestamp
from services.platform.supervisor import Platform
from tests.conftest import Isolated, make_isolated
from tests.integration.test_analytics_pipeline import analytics_worker
from tests.integration.test_share_service import content_and_share

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


def month_start(at: datetime, back: int) -> datetime:
    """The first instant of the month `back` months before `at`'s."""
    index = at.year * 12 + at.month - 1 - back
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def month_of(at: datetime) -> str:
    return f"{at.year:04d}-{at.month:02d}"


M1, M2 = month_start(NOW, 4), month_start(NOW, 3)  # the two cohorts' months
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Person:
    advocate_id: str
    team: str
    enrolled_at: datetime
    # Days after enrolment (fractions allowed) of each share; empty: never shared.
    shares: tuple[float, ...]


def people(tag: str) -> list[Person]:
    """Two cohorts; first shares after 0, 2, 2, 5.5 and 13 days and never; later shares in later months."""
    return [
        Person(f"{tag}-a1", "red", M1 + 2 * DAY + timedelta(hours=9), (0.1, 1.0, 35.0, 64.0)),
        Person(f"{tag}-a2", "red", M1 + 4 * DAY, (2.0, 3.0)),
        Person(f"{tag}-a3", "blue", M1 + 10 * DAY, (5.5, 40.0)),
        Person(f"{tag}-a4", "blue", M1 + 20 * DAY, ()),
        Person(f"{tag}-b1", "red", M2 + 1 * DAY, (13.0, 14.0, 45.0)),
        Person(f"{tag}-b2", "blue", M2 + 6 * DAY + timedelta(hours=20), (2.0,)),
        Person(f"{tag}-b3", "blue", M2 + 7 * DAY, ()),
    ]


def nearest_rank(values: list[int], percent: int) -> int:
    ordered = sorted(values)
    return ordered[max(1, -(-percent * len(ordered) // 100)) - 1]


def expected_cohorts(persons: list[Person], to_month: str) -> list[tuple]:
    """(month, enrolled, shared, median, p90, retained[k]) per cohort, from the imported data."""
    out = []
    for start in (M1, M2):
        cohort = [p for p in persons if month_of(p.enrolled_at) == month_of(start)]
        firsts = [int(min(p.shares) // 1) for p in cohort if p.shares]  # whole days, floored
        months = []
        m = start
        while month_of(m) <= to_month:
            months.append(month_of(m))
            m = month_start(m + 40 * DAY, 0)
        retained = [
            sum(1 for p in cohort if any(month_of(p.enrolled_at + d * DAY) == month for d in p.shares))
            for month in months
        ]
        median = nearest_rank(firsts, 50) if firsts else None
        p90 = nearest_rank(firsts, 90) if firsts else None
        out.append((month_of(start), len(cohort), len(firsts), median, p90, retained))
    return out


def figures(health: apb.ProgramHealth) -> list[tuple]:
    rows = []
    for c in health.cohorts:
        median = c.median_days_to_first_share if c.HasField("median_days_to_first_share") else None
        p90 = c.p90_days_to_first_share if c.HasField("p90_days_to_first_share") else None
        rows.append((c.month, c.enrolled, c.shared, median, p90, list(c.retained)))
    return rows


@pytest.fixture(scope="module")
def stack_of_three(stack) -> Iterator[tuple[Platform, Platform, Isolated]]:
    isolated = make_isolated(stack)
    services = content_and_share(isolated, {"ADVOCACY_SHUTDOWN_GRACE_SECONDS": "5"}, 25081, 20131)
    analytics = analytics_worker(isolated)
    try:
        analytics.start_service("analytics")
        analytics.wait_serving("analytics", timeout=120)
        yield services, analytics, isolated
    finally:
        analytics.stop()
        services.stop()


def import_items(content: content_pb2_grpc.ContentServiceStub, tag: str) -> tuple[str, str]:
    """(an item live since before M1, an item published in M1 that expired in M2's second week)."""
    entries = [
        content_pb2.ImportedContent(
            import_key=f"{tag}-old-news",
            item=content_pb2.ContentItem(title="Our plant runs on wind", url="https://example.com/wind"),
            published_at=to_timestamp(M1 - 3 * DAY),
        ),
        content_pb2.ImportedContent(
            import_key=f"{tag}-summit",
            item=content_pb2.ContentItem(
                title="See you at the summit",
                url="https://example.com/summit",
                expires_at=to_timestamp(M2 + 10 * DAY),
            ),
            published_at=to_timestamp(M1),
        ),
    ]
    results = content.ImportContent(content_pb2.ImportContentRequest(items=entries)).results
    assert [r.created for r in results] == [True, True]
    assert [r.item.status for r in results] == [
        content_pb2.CONTENT_STATUS_PUBLISHED,
        content_pb2.CONTENT_STATUS_EXPIRED,
    ]
    return results[0].item.content_id, results[1].item.content_id


def imported_advocates(persons: list[Person]) -> list[share_pb2.ImportedAdvocate]:
    return [
        share_pb2.ImportedAdvocate(
            advocate=share_pb2.Advocate(
                profile=AdvocateSnapshot(advocate_id=p.advocate_id, team=p.team, display_name=p.advocate_id),
                networks=[share_pb2.NetworkConnection(network=Network.NETWORK_LINKEDIN, audience_size=500)],
            ),
            enrolled_at=to_timestamp(p.enrolled_at),
        )
        for p in persons
    ]


def imported_shares(persons: list[Person], live: str, expired: str) -> list[share_pb2.ImportedShare]:
    """Every share of every person: the expired item while it was live, else the live item, every
    third an own post."""
    entries = []
    for p in persons:
        for n, days in enumerate(p.shares):
            at = p.enrolled_at + days * DAY
            entry = share_pb2.ImportedShare(
                idempotency_key=f"history-{n}",
                advocate_id=p.advocate_id,
                network=Network.NETWORK_LINKEDIN,
                message="From the old tool",
                shared_at=to_timestamp(at),
            )
            if n % 3 == 2:
                entry.own_post_url = f"https://blog.example.org/{p.advocate_id}/{n}"
            else:
                entry.content_id = expired if at < M2 + 10 * DAY and n % 2 == 0 else live
            entries.append(entry)
    return entries


def test_imported_history_shows_in_the_programme_health_cohorts(stack_of_three):
    services, analytics, isolated = stack_of_three
    tag = isolated.prefix.rstrip("-")
    persons = people(tag)
    with services.channel("content") as c, services.channel("share") as s, analytics.channel("analytics") as a:
        content, share = content_pb2_grpc.ContentServiceStub(c), share_pb2_grpc.ShareServiceStub(s)
        live, expired = import_items(content, tag)
        enrolled = share.ImportAdvocates(share_pb2.ImportAdvocatesRequest(advocates=imported_advocates(persons)))
        assert all(r.created for r in enrolled.results)
        assert [r.advocate.enrolments[0].enrolled_at.ToDatetime(UTC) for r in enrolled.results] == [
            p.enrolled_at for p in persons
        ]
        entries = imported_shares(persons, live, expired)
        first = share.ImportShares(share_pb2.ImportSharesRequest(shares=entries), timeout=60)
        assert all(r.created for r in first.results) and len(first.results) == len(entries)
        assert [r.share.shared_at for r in first.results] == [e.shared_at for e in entries]
        # A re-run of the migration records nothing new.
        again = share.ImportShares(share_pb2.ImportSharesRequest(shares=entries), timeout=60)
        assert [r.share.share_id for r in again.results] == [r.share.share_id for r in first.results]
        assert not any(r.created for r in again.results)
        assert not any(
            r.created
            for r in share.ImportAdvocates(
                share_pb2.ImportAdvocatesRequest(advocates=imported_advocates(persons))
            ).results
        )
        check_refusals(share, persons, live, expired)
        stub = analytics_pb2_grpc.AnalyticsServiceStub(a)
        wait_for_cohorts(stub, persons)
        check_rollups(stub, persons)
    check_events(isolated, {r.share.share_id: e for r, e in zip(first.results, entries, strict=True)})


def check_events(isolated: Isolated, imported: dict[str, share_pb2.ImportedShare]) -> None:
    """Each imported share reached share-made once, marked imported, at its past shared_at."""
    consumer = KafkaConsumer(
        isolated.prefix + "share-made",
        bootstrap_servers=isolated.stack.kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    seen: dict[str, share_pb2.ShareMade] = {}
    for record in consumer:
        event = share_pb2.ShareMade.FromString(record.value)
        assert event.share.share_id not in seen or seen[event.share.share_id].event_id == event.event_id
        seen[event.share.share_id] = event
    consumer.close()
    assert set(seen) == set(imported)
    for share_id, event in seen.items():
        assert event.imported and event.occurred_at == imported[share_id].shared_at
        assert event.share.own_post == imported[share_id].HasField("own_post_url")


def check_rollups(stub: analytics_pb2_grpc.AnalyticsServiceStub, persons: list[Person]) -> None:
    """The rollups count imported shares in all-time figures only: they reached Kafka long after the
    allowed lateness (48 h) of their hour, so no hourly or daily window takes them."""
    for p in persons[:3]:
        request = apb.GetStatsRequest(
            dimension=apb.DIMENSION_ADVOCATE, key=p.advocate_id, granularity=apb.GRANULARITY_ALL_TIME
        )
        deadline = time.monotonic() + 60  # the rollups are another agent than the health figures'
        while not (points := stub.GetStats(request).points) or points[0].shares < len(p.shares):
            assert time.monotonic() < deadline, points
            time.sleep(0.5)
        assert [pt.shares for pt in points] == [len(p.shares)]
        request.granularity = apb.GRANULARITY_DAY
        request.start.CopyFrom(to_timestamp(M1 - 5 * DAY))
        request.end.CopyFrom(to_timestamp(NOW))
        assert sum(pt.shares for pt in stub.GetStats(request).points) == 0


def check_refusals(share: share_pb2_grpc.ShareServiceStub, persons: list[Person], live: str, expired: str) -> None:
    """One impossible entry refuses the whole batch, naming the entry; nothing of it is recorded."""
    good = share_pb2.ImportedShare(
        idempotency_key="refused-good",
        advocate_id=persons[0].advocate_id,
        network=Network.NETWORK_LINKEDIN,
        content_id=live,
        shared_at=to_timestamp(persons[0].enrolled_at + 3 * DAY),
    )
    cases = [
        # The summit item expired in M2's second week.
        (
            dict(content_id=expired, shared_at=to_timestamp(M2 + 20 * DAY)),
            grpc.StatusCode.FAILED_PRECONDITION,
            "expired",
        ),
        # Before the advocate's enrolment.
        (
            dict(shared_at=to_timestamp(persons[0].enrolled_at - DAY)),
            grpc.StatusCode.FAILED_PRECONDITION,
            "not enrolled",
        ),
        (dict(shared_at=to_timestamp(NOW + DAY)), grpc.StatusCode.INVALID_ARGUMENT, "future"),
    ]
    for fields, code, words in cases:
        bad = share_pb2.ImportedShare()
        bad.CopyFrom(good)
        bad.idempotency_key = "refused-bad"
        for name, value in fields.items():
            if name == "shared_at":
                bad.shared_at.CopyFrom(value)
            else:
                setattr(bad, name, value)
        with pytest.raises(grpc.RpcError) as refused:
            share.ImportShares(share_pb2.ImportSharesRequest(shares=[good, bad]))
        assert refused.value.code() == code
        assert refused.value.details().startswith("shares[1]") and words in refused.value.details()
    listed = share.ListSharesByAdvocate(share_pb2.ListSharesByAdvocateRequest(advocate_id=persons[0].advocate_id))
    assert "refused-good" not in {s.idempotency_key for s in listed.shares}


def wait_for_cohorts(
    stub: analytics_pb2_grpc.AnalyticsServiceStub, persons: list[Person], timeout: float = 120.0
) -> None:
    to_month = month_of(NOW)
    want = expected_cohorts(persons, to_month)
    request = apb.GetProgramHealthRequest(from_month=month_of(M1), to_month=to_month)
    deadline = time.monotonic() + timeout
    got: list[tuple] = []
    while time.monotonic() < deadline:
        got = figures(stub.GetProgramHealth(request))
        if got == want:
            break
        time.sleep(1.0)
    assert got == want
    # Shares per month as imported (the health agent counts late events, unlike hourly windows).
    health = stub.GetProgramHealth(request)
    per_month: dict[str, int] = {}
    for p in persons:
        for d in p.shares:
            month = month_of(p.enrolled_at + d * DAY)
            per_month[month] = per_month.get(month, 0) + 1
    assert {a.month: a.shares for a in health.activity} == per_month
