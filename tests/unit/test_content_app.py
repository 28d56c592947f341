"""The content use cases over in-memory fakes: a requested lifecycle step, the scheduler's scan and
the feed source poller's claims."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from advocacy.content.v1.content_pb2 import ContentItem, ContentPublished, ContentStatus, FeedSource, SourceStatus

from services.common.events import to_timestamp
from services.common.outbox import OutboxEvent
from services.content.app.poller import SourcePoller
from services.content.app.polling import NEW_ITEMS, PollResult
from services.content.app.scheduling import Scheduler
from services.content.app.transitions import ItemNotFound, TransitionItem
from services.content.domain.item import InvalidExpectedVersion, VersionConflict
from services.content.domain.lifecycle import Action, IllegalTransition
from services.content.domain.schedule import AlreadyExpired
from tests.unit.content_fakes import FakeItems

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
APPROVED, PUBLISHED = ContentStatus.CONTENT_STATUS_APPROVED, ContentStatus.CONTENT_STATUS_PUBLISHED


class FakeEvents:
    def published(self, item: ContentItem, kind: int, now: datetime) -> OutboxEvent:
        return OutboxEvent(
            event_id=f"e-{item.content_id}-{kind}", topic="content-published", key=item.content_id, value=b""
        )


def kinds(events: list[OutboxEvent]) -> list[int]:
    return [int(e.event_id.rsplit("-", 1)[1]) for e in events]


def use_case(items: FakeItems) -> tuple[TransitionItem, list[ContentItem]]:
    sent: list[ContentItem] = []
    return TransitionItem(items, FakeEvents(), sent.append, clock=lambda: NOW), sent


# --- a requested step ---------------------------------------------------------------------------


def test_publishing_records_the_item_with_its_event_and_sends_it_at_once():
    items = FakeItems()
    items.add("c1", APPROVED)
    transition, sent = use_case(items)
    published = asyncio.run(transition("c1", Action.PUBLISH, expected_version=2, actor_id="admin"))
    assert (published.status, published.version) == (PUBLISHED, 3)
    assert items.items["c1"] == published and kinds(items.events) == [ContentPublished.KIND_PUBLISHED]
    assert sent == [published]


def test_publish_before_publish_at_only_confirms_the_schedule():
    items = FakeItems()
    items.add("c1", APPROVED, publish_at=to_timestamp(NOW + timedelta(minutes=5)))
    transition, sent = use_case(items)
    kept = asyncio.run(transition("c1", Action.PUBLISH))
    assert (kept.status, kept.version, items.events, sent) == (APPROVED, 2, [], [])


def test_a_step_without_events_is_recorded_without_sending():
    items = FakeItems()
    items.add("c1", ContentStatus.CONTENT_STATUS_IN_REVIEW)
    transition, sent = use_case(items)
    rejected = asyncio.run(transition("c1", Action.REJECT, actor_id="rev", reason="off-brand"))
    assert (rejected.rejection_reason, rejected.reviewer_id, sent) == ("off-brand", "rev", [])


@pytest.mark.parametrize(
    ("content_id", "action", "expected_version", "error"),
    [
        ("missing", Action.APPROVE, 0, ItemNotFound),
        ("c1", Action.PUBLISH, -1, InvalidExpectedVersion),
        ("c1", Action.PUBLISH, 1, VersionConflict),
        ("c1", Action.SUBMIT, 0, IllegalTransition),
        ("c1", Action.PUBLISH, 0, AlreadyExpired),
    ],
)
def test_refused_steps_change_nothing(content_id: str, action: Action, expected_version: int, error: type):
    items = FakeItems()
    before = items.add("c1", APPROVED, expires_at=to_timestamp(NOW - timedelta(seconds=1)))
    transition, sent = use_case(items)
    with pytest.raises(error):
        asyncio.run(transition(content_id, action, expected_version))
    assert (items.items["c1"], items.events, sent) == (before, [], [])


def test_losing_to_a_concurrent_change_is_a_version_conflict():
    items = FakeItems(lose_next=True)
    items.add("c1", APPROVED)
    transition, sent = use_case(items)
    with pytest.raises(VersionConflict, match="changed concurrently"):
        asyncio.run(transition("c1", Action.PUBLISH))
    assert (items.events, sent) == ([], [])


# --- the scheduler ------------------------------------------------------------------------------


def scheduler(items: FakeItems) -> tuple[Scheduler, list[ContentItem], list[Action]]:
    sent: list[ContentItem] = []
    done: list[Action] = []
    return Scheduler(items, FakeEvents(), sent.append, (), on_transition=done.append, clock=lambda: NOW), sent, done


def test_an_item_publishes_itself_at_publish_at_with_its_event():
    items = FakeItems()
    items.add("due", APPROVED, publish_at=to_timestamp(NOW))
    items.add("later", APPROVED, publish_at=to_timestamp(NOW + timedelta(seconds=1)))
    scan, sent, done = scheduler(items)
    assert asyncio.run(scan.tick()) == 1
    assert items.items["due"].status == PUBLISHED and items.items["due"].published_at == to_timestamp(NOW)
    assert items.items["later"].status == APPROVED
    assert kinds(items.events) == [ContentPublished.KIND_PUBLISHED] and [i.content_id for i in sent] == ["due"]
    assert done == [Action.PUBLISH]


def test_catch_up_expires_an_approved_item_past_its_expiry_without_an_event():
    # Both its times passed while the service was down: nobody could see it, so nothing is announced.
    items = FakeItems()
    items.add(
        "c1",
        APPROVED,
        publish_at=to_timestamp(NOW - timedelta(hours=2)),
        expires_at=to_timestamp(NOW - timedelta(hours=1)),
    )
    scan, sent, done = scheduler(items)
    assert asyncio.run(scan.tick()) == 1
    assert items.items["c1"].status == ContentStatus.CONTENT_STATUS_EXPIRED
    assert not items.items["c1"].HasField("published_at")
    assert (items.events, sent, done) == ([], [], [Action.EXPIRE])


def test_a_published_item_past_its_expiry_announces_it():
    items = FakeItems()
    items.add("c1", PUBLISHED, published_at=to_timestamp(NOW - timedelta(days=1)), expires_at=to_timestamp(NOW))
    scan, sent, _ = scheduler(items)
    assert asyncio.run(scan.tick()) == 1
    assert kinds(items.events) == [ContentPublished.KIND_EXPIRED] and len(sent) == 1


def test_a_transition_another_replica_won_is_not_counted():
    items = FakeItems(lose_next=True)
    items.add("c1", APPROVED, publish_at=to_timestamp(NOW))
    scan, sent, done = scheduler(items)
    assert asyncio.run(scan.tick()) == 0
    assert (items.items["c1"].status, sent, done) == (APPROVED, [], [])


# --- the source poller --------------------------------------------------------------------------


@dataclass
class FakeSources:
    configs_: list[FeedSource]
    held_elsewhere: set[str] = field(default_factory=set)  # sources whose slot another replica holds
    statuses: dict[str, SourceStatus] = field(default_factory=dict)
    claims: list[str] = field(default_factory=list)

    async def configs(self) -> list[FeedSource]:
        return self.configs_

    async def status(self, source_id: str) -> tuple[SourceStatus, str]:
        return self.statuses.get(source_id, SourceStatus()), ""

    async def save_status(self, source_id: str, status: SourceStatus, claim_id: str) -> None:
        self.statuses[source_id] = status

    async def claim(self, claim_id: str, now: datetime) -> bool:
        if claim_id in self.claims or claim_id.split("@")[0] in self.held_elsewhere:
            return False
        self.claims.append(claim_id)
        return True

    async def release(self, claim_id: str) -> None:
        pass


def test_the_poller_polls_each_due_source_once_and_skips_paused_and_claimed_ones():
    sources = FakeSources([FeedSource(source_id=s, paused=s == "paused") for s in ("a", "b", "paused")], {"b"})
    polled: list[str] = []
    results: list[PollResult] = []

    async def poll_one(source: FeedSource, status: SourceStatus, now: datetime) -> PollResult:
        polled.append(source.source_id)
        return PollResult(SourceStatus(next_poll_at=to_timestamp(now + timedelta(minutes=1))), NEW_ITEMS, 1)

    async def run() -> None:
        poller = SourcePoller(sources, poll_one, (), on_polled=results.append)
        for _ in range(2):  # the second tick finds a not due again for a minute
            await poller.tick()
            await asyncio.sleep(0.05)  # the polls run as tasks of their own

    asyncio.run(run())
    assert polled == ["a"] and len(results) == 1 and len(sources.claims) == 1
    assert sources.statuses["a"].HasField("next_poll_at") and "b" not in sources.statuses


def test_a_storage_error_while_polling_is_survived_and_retried():
    sources = FakeSources([FeedSource(source_id="a")])
    calls: list[int] = []

    class Down(Exception):
        pass

    async def poll_one(source: FeedSource, status: SourceStatus, now: datetime) -> PollResult:
        calls.append(1)
        if len(calls) == 1:
            raise Down("database away")
        return PollResult(SourceStatus(next_poll_at=to_timestamp(now + timedelta(minutes=1))), NEW_ITEMS, 0)

    async def run() -> None:
        # A short lease: the failed attempt's slot is free again by the next tick.
        poller = SourcePoller(sources, poll_one, (Down,), tick_seconds=0.01, lease_seconds=0.02)
        for _ in range(3):
            await poller.tick()
            await asyncio.sleep(0.05)

    asyncio.run(run())
    assert len(calls) == 2 and sources.statuses["a"].HasField("next_poll_at")
