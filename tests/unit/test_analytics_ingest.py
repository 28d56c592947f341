"""Ingest turning events into facts, without a store: lateness by Kafka arrival, and what counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.share.v1 import share_pb2 as spb
from google.protobuf.timestamp_pb2 import Timestamp

from services.analytics.app.ingest import Ingest, InvalidEvent
from services.analytics.stream.agents import arrived_at

OCCURRED = datetime(2026, 11, 27, 13, 45, tzinfo=UTC)  # hourly window ends at 14:00
LATENESS = timedelta(hours=2)  # in its windows when it reached Kafka by 16:00
PROCESSED = OCCURRED + timedelta(days=9)  # the worker's clock: a replay, or a long outage


def no_repo() -> Any:
    raise AssertionError("building a fact does no I/O")


def ingest(clock: datetime = PROCESSED) -> Ingest:
    return Ingest(no_repo, LATENESS, clock=lambda: clock)


def ts(at: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(at)
    return out


def share(at: datetime = OCCURRED) -> spb.ShareMade:
    return spb.ShareMade(
        event_id="e-share",
        occurred_at=ts(at),
        share=spb.Share(share_id="s1", content_id="c1", advocate_id="a1", network=1, audience_size=700),
        advocate=AdvocateSnapshot(advocate_id="a1", team="red", leader=True),
        campaign_id="camp",
    )


def engagement(kind: int = spb.ENGAGEMENT_KIND_CLICK, **kw: Any) -> spb.EngagementObserved:
    fields: dict[str, Any] = {
        "event_id": "e-eng",
        "occurred_at": ts(OCCURRED),
        "share_id": "s1",
        "content_id": "c1",
        "advocate": AdvocateSnapshot(advocate_id="a1", team="red"),
        "network": Network.NETWORK_LINKEDIN,
        "kind": kind,
        "count": 1,
        "actor_fingerprint": "fp1",
    }
    fields.update(kw)
    return spb.EngagementObserved(**fields)


# ---------------------------------------------------------------- lateness


def test_lateness_is_judged_by_kafka_arrival_not_by_processing_time():
    # Reached Kafka in time, processed nine days later (replay, outage): stays in its windows.
    on_time = OCCURRED + timedelta(hours=2, minutes=15)
    for fact in (ingest().fact(share(), on_time), ingest().fact(engagement(), on_time)):
        assert fact.doc["too_late"] is False
        assert fact.doc["received_at"] == on_time
        assert fact.doc["hour"] == datetime(2026, 11, 27, 13, tzinfo=UTC)


def test_an_event_that_reached_kafka_after_the_allowed_lateness_is_too_late():
    # Processed at once (clock = arrival) makes no difference: the arrival decides.
    late = datetime(2026, 11, 27, 16, 0, 1, tzinfo=UTC)
    assert ingest(clock=late).fact(share(), late).doc["too_late"] is True
    assert ingest(clock=late).fact(engagement(), late).doc["too_late"] is True
    in_time = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)  # the boundary itself is still in time
    assert ingest(clock=PROCESSED).fact(share(), in_time).doc["too_late"] is False


def test_without_a_record_timestamp_the_clock_stands_in():
    assert ingest(clock=PROCESSED).fact(share()).doc["too_late"] is True
    assert ingest(clock=OCCURRED).fact(share()).doc["too_late"] is False


def test_arrival_is_the_records_timestamp_in_utc():
    stamp = datetime(2026, 11, 27, 14, 30, 0, 250000, tzinfo=UTC)
    event = SimpleNamespace(message=SimpleNamespace(timestamp=stamp.timestamp()))
    assert arrived_at(event) == stamp  # type: ignore[arg-type]
    for missing in (None, 0.0, -1.0):  # no timestamp on the record
        assert arrived_at(SimpleNamespace(message=SimpleNamespace(timestamp=missing))) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("received_after_hour_end", [timedelta(0), LATENESS])
def test_share_fact_carries_the_share(received_after_hour_end: timedelta):
    arrival = datetime(2026, 11, 27, 14, tzinfo=UTC) + received_after_hour_end
    doc = ingest().fact(share(), arrival).doc
    assert (doc["_id"], doc["kind"], doc["network"], doc["leader"], doc["campaign_id"]) == (
        "e-share",
        "SHARE",
        "LINKEDIN",
        True,
        "camp",
    )
    assert (doc["shares"], doc["potential_reach"], doc["too_late"]) == (1, 700, False)


# ---------------------------------------------------------------- what an engagement counts

COUNTERS = ("shares", "potential_reach", "impressions", "clicks", "reactions", "comments", "reshares")


def counted(fact: Any) -> dict[str, int]:
    return {name: fact.doc[name] for name in COUNTERS if fact.doc[name]}


@pytest.mark.parametrize("flag", ["is_bot", "is_self"])
def test_bot_and_self_clicks_are_kept_as_facts_but_never_counted_nor_claim_a_slot(flag: str):
    fact = ingest().engagement_fact(engagement(**{flag: True}), OCCURRED)
    assert counted(fact) == {} and fact.slot == ""
    assert (fact.doc["_id"], fact.doc["kind"]) == ("e-eng", "CLICK")


def test_a_fingerprinted_click_claims_its_30_minute_slot_and_counts_only_once_it_owns_it():
    fact = ingest().engagement_fact(engagement(count=5), OCCURRED)
    assert fact.slot.startswith("s1|fp1|")
    assert counted(fact) == {}  # `facts` sets clicks to 1 for the slot's owner: never the count


def test_a_click_without_fingerprint_is_an_imported_aggregate_counted_as_is():
    fact = ingest().engagement_fact(engagement(actor_fingerprint="", count=7), OCCURRED)
    assert counted(fact) == {"clicks": 7} and fact.slot == ""


@pytest.mark.parametrize(
    ("kind", "counter"),
    [
        (spb.ENGAGEMENT_KIND_IMPRESSION, "impressions"),
        (spb.ENGAGEMENT_KIND_REACTION, "reactions"),
        (spb.ENGAGEMENT_KIND_COMMENT, "comments"),
        (spb.ENGAGEMENT_KIND_RESHARE, "reshares"),
    ],
)
def test_count_0_is_one_and_negative_counts_clamp_to_one(kind: int, counter: str):
    # proto3 leaves count 0 when a sender omits it: one engagement, never zero or negative.
    for count, expected in ((0, 1), (-40, 1), (1, 1), (250, 250)):
        fact = ingest().engagement_fact(engagement(kind, count=count), OCCURRED)
        assert counted(fact) == {counter: expected}, count


def test_a_bot_flag_only_removes_clicks():
    fact = ingest().engagement_fact(engagement(spb.ENGAGEMENT_KIND_REACTION, count=3, is_bot=True), OCCURRED)
    assert counted(fact) == {"reactions": 3}


def test_comment_text_is_kept_only_for_comments():
    comment = ingest().engagement_fact(engagement(spb.ENGAGEMENT_KIND_COMMENT, comment_text="Pricing?"), OCCURRED)
    assert (comment.doc["comment_text"], comment.doc["has_comment"]) == ("Pricing?", True)
    reaction = ingest().engagement_fact(engagement(spb.ENGAGEMENT_KIND_REACTION, comment_text="x"), OCCURRED)
    assert "comment_text" not in reaction.doc and "has_comment" not in reaction.doc


def test_a_negative_audience_size_clamps_to_zero_reach():
    event = share()
    event.share.audience_size = -5
    assert counted(ingest().share_fact(event, OCCURRED)) == {"shares": 1}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event_id": ""}, "event_id"),
        ({"occurred_at": Timestamp()}, "occurred_at"),
        ({"content_id": ""}, "content_id"),
        ({"advocate": AdvocateSnapshot(team="red")}, "advocate_id"),
        ({"kind": spb.ENGAGEMENT_KIND_UNSPECIFIED}, "kind"),
    ],
)
def test_an_unusable_engagement_is_invalid_naming_the_field(change: dict[str, Any], field: str):
    with pytest.raises(InvalidEvent, match=field):
        ingest().engagement_fact(engagement(**change), OCCURRED)


# ---------------------------------------------------------------- unique potential reach


class MemoryRepo:
    """The claims and the facts as the real store keeps them: first claim wins, `_id` is unique."""

    def __init__(self) -> None:
        self.reach_owners: dict[str, str] = {}
        self.docs: dict[str, dict[str, Any]] = {}
        self.fail_next_record = False

    async def claim_clicks(self, claims: list[tuple[str, str]]) -> dict[str, str]:
        assert not claims, "shares claim no click slot"
        return {}

    async def claim_reach(self, claims: list[tuple[str, str]]) -> dict[str, str]:
        for key, event_id in claims:
            self.reach_owners.setdefault(key, event_id)
        return {key: self.reach_owners[key] for key, _ in claims}

    async def record_facts(self, docs: list[dict[str, Any]]) -> list[bool]:
        if self.fail_next_record:  # the database failed after the claims were written
            self.fail_next_record = False
            raise ConnectionError("database down")
        new = []
        for doc in docs:
            new.append(doc["_id"] not in self.docs)
            self.docs.setdefault(doc["_id"], dict(doc))
        return new


def shared(event_id: str, audience: int, content: str = "c1", network: int = 1, at: datetime = OCCURRED):
    event = share(at)
    event.event_id = event_id
    event.share.share_id = f"s-{event_id}"
    event.share.content_id = content
    event.share.network = network
    event.share.audience_size = audience
    return event


async def store(repo: MemoryRepo, *events: spb.ShareMade) -> list[bool]:
    ing = Ingest(lambda: repo, LATENESS, clock=lambda: PROCESSED)  # type: ignore[arg-type,return-value]
    return await ing.facts([ing.fact(e, OCCURRED) for e in events])


def reach_of(repo: MemoryRepo) -> dict[str, tuple[int, int]]:
    return {i: (d["shares"], d["potential_reach"]) for i, d in repo.docs.items()}


async def test_a_repeated_share_of_a_triple_is_a_share_without_reach():
    repo = MemoryRepo()
    assert await store(repo, shared("first", 700)) == [True]
    # Same item, advocate and network again (a larger audience by now): a share, not reach. Another
    # network or another item is another triple.
    await store(repo, shared("again", 900), shared("x", 300, network=Network.NETWORK_X), shared("c2", 50, "c2"))
    assert reach_of(repo) == {"first": (1, 700), "again": (1, 0), "x": (1, 300), "c2": (1, 50)}


async def test_a_redelivered_first_share_is_still_the_first_and_builds_the_same_fact():
    repo = MemoryRepo()
    await store(repo, shared("first", 700))
    before = dict(repo.docs["first"])
    await store(repo, shared("again", 700))
    ing = Ingest(lambda: repo, LATENESS, clock=lambda: PROCESSED)  # type: ignore[arg-type,return-value]
    redelivered = ing.fact(shared("first", 700), OCCURRED)
    assert await ing.facts([redelivered]) == [False]
    assert redelivered.doc == before  # the document the redelivery would write is the stored one
    assert reach_of(repo) == {"first": (1, 700), "again": (1, 0)}


async def test_within_a_batch_the_first_in_offset_order_owns_the_triple_even_if_it_occurred_later():
    repo = MemoryRepo()
    earlier = OCCURRED - timedelta(hours=3)  # processed second: "first" is processing order
    await store(repo, shared("a", 400), shared("b", 500, at=earlier), shared("a", 400))
    assert reach_of(repo) == {"a": (1, 400), "b": (1, 0)}


async def test_a_batch_retried_after_its_claims_were_written_gives_the_same_facts():
    repo = MemoryRepo()
    repo.fail_next_record = True
    with pytest.raises(ConnectionError):
        await store(repo, shared("first", 700), shared("again", 800))
    assert repo.docs == {} and repo.reach_owners  # claimed, nothing stored
    await store(repo, shared("first", 700), shared("again", 800))  # the agent retries the batch
    assert reach_of(repo) == {"first": (1, 700), "again": (1, 0)}


async def test_only_the_first_event_of_a_triple_counts_even_when_a_later_one_is_redelivered_first():
    repo = MemoryRepo()
    await store(repo, shared("first", 700), shared("again", 900))
    assert await store(repo, shared("again", 900), shared("first", 700)) == [False, False]
    assert reach_of(repo) == {"first": (1, 700), "again": (1, 0)}


def test_an_own_posts_facts_carry_their_origin_and_company_items_theirs():
    own = share()
    own.share.own_post = True
    assert ingest().share_fact(own, PROCESSED).doc["post_origin"] == "own"
    assert ingest().share_fact(share(), PROCESSED).doc["post_origin"] == "company"
    assert ingest().engagement_fact(engagement(own_post=True), PROCESSED).doc["post_origin"] == "own"
    assert ingest().engagement_fact(engagement(), PROCESSED).doc["post_origin"] == "company"
