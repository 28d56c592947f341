"""Delivery with fake channels: once per channel whatever is replanned or retried, retries with
backoff while a channel is down, dead letters for what can never go, opt-out, quiet hours and the
rate limit delaying (never dropping), thank-yous gathered from the window's awards."""

from __future__ import annotations

import asyncio
from datetime import time, timedelta

from advocacy.common.v1.common_pb2 import AdvocateSnapshot
from advocacy.content.v1.content_pb2 import ContentItem, ContentPublished
from advocacy.rewards.v1.rewards_pb2 import LedgerEntry, PointsAwarded
from advocacy.share.v1.share_pb2 import Advocate, AdvocateChanged, Share, ShareMade

from services.common.events import to_timestamp
from services.notify.adapters import events
from services.notify.adapters.views import NotifyViews
from services.notify.app.delivery import Deliverer, DeliveryPolicy
from services.notify.app.digests import DigestScheduler
from services.notify.app.loop import DeliveryLoop
from services.notify.app.planner import Planner
from services.notify.app.preferences import PreferencesService
from services.notify.domain.notification import ChannelName, Kind
from services.notify.domain.planning import Item, Planned, ShareFact
from services.notify.domain.preferences import DigestFrequency, Preferences
from tests.unit.notify_fakes import (
    Clock,
    FakeChannel,
    FakeDeadLetters,
    FakePreferencesStore,
    FakeRenderer,
    FakeStore,
    PermanentDeliveryError,
    TransientDeliveryError,
)

TEST_POLICY = DeliveryPolicy(retry_initial_seconds=2, retry_max_seconds=60, max_age_seconds=600)
EMAIL_AND_TOPIC = Preferences(channels={ChannelName.EMAIL: "ada@example.com", ChannelName.TOPIC: ""})


class World:
    def __init__(
        self,
        policy: DeliveryPolicy = TEST_POLICY,
    ) -> None:
        self.clock = Clock()
        self.store = FakeStore()
        self.prefs_store = FakePreferencesStore(company=EMAIL_AND_TOPIC)
        self.prefs = PreferencesService(self.prefs_store)
        self.views = NotifyViews()
        self.email = FakeChannel(ChannelName.EMAIL)
        self.topic = FakeChannel(ChannelName.TOPIC)
        self.dead = FakeDeadLetters()
        self.deliverer = Deliverer(
            self.store,
            self.prefs,
            self.views,
            FakeRenderer(),
            {ChannelName.EMAIL: self.email, ChannelName.TOPIC: self.topic},
            self.dead,
            lambda a: f"http://x/unsubscribe/{a}",
            self.clock,
            policy,
        )
        self.loop = DeliveryLoop(self.store, self.deliverer, self.clock)
        self.planner = Planner(self.views, self.store, self.loop.add, self.clock, 60, 5, wants=self.prefs.wants)
        self.enrol("ada", team="sales", timezone="Europe/Helsinki", language="fi")

    def enrol(self, advocate_id: str, **profile: object) -> None:
        snapshot = AdvocateSnapshot(advocate_id=advocate_id, display_name=advocate_id.title(), **profile)  # type: ignore[arg-type]
        self.views.apply_advocate(AdvocateChanged(advocate=Advocate(profile=snapshot, enrolled=True), version=1))

    def award(
        self, entry_id: str, points: int, rule: str = "share", units: int = 0, content: str = "c1"
    ) -> PointsAwarded:
        entry = LedgerEntry(
            entry_id=entry_id,
            advocate_id="ada",
            points=points,
            rule=rule,
            units=units,
            content_id=content,
            occurred_at=to_timestamp(self.clock.now),
        )
        event = PointsAwarded(event_id=entry_id, entry=entry)
        self.views.apply_award(event)
        return event

    async def plan(self, *ids: str) -> None:
        await self.store.enqueue(
            [Planned(i, Kind.NEW_CONTENT, "ada", self.clock.now, {"content_id": "c1", "title": "T"}) for i in ids]
        )
        self.loop.add([q for q in await self.store.all_queued()])

    def sent_ids(self, channel: FakeChannel) -> list[str]:
        return [nid for nid, _, _ in channel.sent]


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_each_channel_once_even_when_planned_again() -> None:
    async def scenario() -> None:
        w = World()
        await w.plan("new:c1:ada")
        assert await w.loop.run_due() == 1
        assert w.sent_ids(w.email) == ["new:c1:ada"] and w.sent_ids(w.topic) == ["new:c1:ada"]
        assert w.email.sent[0][1] == "ada@example.com"
        # The event comes again (redelivery): queued again, finished without a second message.
        await w.plan("new:c1:ada")
        await w.loop.run_due()
        assert len(w.email.sent) == 1 and len(w.topic.sent) == 1
        assert w.store.queue == {} and w.store.done["new:c1:ada"] == "delivered"

    run(scenario())


def test_a_channel_down_is_retried_with_backoff_and_the_other_not_resent() -> None:
    async def scenario() -> None:
        w = World()
        w.email.down = True
        await w.plan("new:c1:ada")
        await w.loop.run_due()
        assert w.sent_ids(w.topic) == ["new:c1:ada"] and w.email.sent == []
        waits = []
        for _ in range(3):
            queued = w.store.queue["new:c1:ada"]
            waits.append((queued.due_at - w.clock.now).total_seconds())
            w.clock.now = queued.due_at
            await w.loop.run_due()
        assert waits == [2, 4, 8]
        w.email.down = False
        w.clock.now = w.store.queue["new:c1:ada"].due_at
        await w.loop.run_due()
        assert w.sent_ids(w.email) == ["new:c1:ada"] and len(w.topic.sent) == 1
        assert "new:c1:ada" not in w.store.queue and w.dead.letters == []

    run(scenario())


def test_permanent_failure_and_old_age_are_dead_lettered() -> None:
    async def scenario() -> None:
        w = World()
        w.email.failures.append(PermanentDeliveryError("550 no such user"))
        await w.plan("new:c1:ada")
        await w.loop.run_due()
        assert w.dead.letters == [("new:c1:ada", "email", "permanent")]
        assert w.store.done["new:c1:ada"] == "delivered"  # finished: the topic took it, email is dead

        w.email.down = True
        await w.plan("new:c2:ada")
        for _ in range(20):
            if "new:c2:ada" not in w.store.queue:
                break
            w.clock.now = w.store.queue["new:c2:ada"].due_at
            await w.loop.run_due()
        assert ("new:c2:ada", "email", "max_age") in w.dead.letters
        assert "new:c2:ada" not in w.store.queue

    run(scenario())


def test_opted_out_advocates_get_nothing() -> None:
    async def scenario() -> None:
        w = World()
        await w.prefs.opt_out("ada")
        await w.plan("new:c1:ada")
        await w.loop.run_due()
        assert w.email.sent == [] and w.topic.sent == []
        assert w.store.done["new:c1:ada"] == "skipped:opted_out"

    run(scenario())


def test_quiet_hours_delay_to_their_end() -> None:
    async def scenario() -> None:
        w = World()
        await w.prefs.update(
            "ada", Preferences(channels={ChannelName.TOPIC: ""}, quiet_start=time(11, 0), quiet_end=time(13, 0))
        )
        # 10:00 UTC is 12:00 in Helsinki: quiet until 13:00 local (11:00 UTC).
        await w.plan("new:c1:ada")
        await w.loop.run_due()
        assert w.topic.sent == []
        assert w.store.queue["new:c1:ada"].due_at == w.clock.now + timedelta(hours=1)
        w.clock.advance(3600)
        await w.loop.run_due()
        assert w.sent_ids(w.topic) == ["new:c1:ada"]

    run(scenario())


def test_rate_limit_delays_the_excess() -> None:
    async def scenario() -> None:
        w = World(DeliveryPolicy(rate_limit_per_hour=2))
        await w.plan("new:c1:ada", "new:c2:ada", "new:c3:ada")
        await w.loop.run_due()
        assert len(w.topic.sent) == 2
        assert w.loop.pending == 1
        w.clock.advance(3599)
        await w.loop.run_due()
        assert len(w.topic.sent) == 2
        w.clock.advance(1)
        await w.loop.run_due()
        assert len(w.topic.sent) == 3 and w.loop.pending == 0

    run(scenario())


def test_thank_you_gathers_the_window_once() -> None:
    async def scenario() -> None:
        w = World()
        w.views.apply_share(
            ShareMade(
                event_id="s1",
                share=Share(
                    share_id="s1",
                    advocate_id="ada",
                    content_id="c1",
                    audience_size=1200,
                    shared_at=to_timestamp(w.clock.now),
                ),
            )
        )
        for event in (w.award("e1", 10), w.award("e2", 1, "click", units=1), w.award("e3", 0, "reaction")):
            await w.planner.points_awarded(events.award(event))
        assert list(w.store.queue) == ["thanks:ada:20261207T100000Z"]
        await w.loop.run_due()
        assert w.topic.sent == []  # the window is still open
        w.clock.advance(65)
        await w.loop.run_due()
        [(nid, _, message)] = w.topic.sent
        assert nid == "thanks:ada:20261207T100000Z"
        assert "'points': 11" in message.text and "'reach': 1200" in message.text and "'clicks': 1" in message.text

    run(scenario())


def test_leader_message_skipped_when_the_teammate_shared_meanwhile() -> None:
    async def scenario() -> None:
        w = World()
        w.enrol("boss", team="sales", leader=True)
        w.views.apply_content(
            ContentPublished(
                kind=ContentPublished.Kind.KIND_PUBLISHED, item=ContentItem(content_id="c1", title="Launch")
            )
        )
        fact = ShareFact("boss", "c1", 100, w.clock.now)
        assert await w.planner.share_made(fact, leader=True) == 1
        assert await w.planner.share_made(fact, leader=True) == 0  # redelivered: already queued
        w.views.apply_share(ShareMade(event_id="s2", share=Share(share_id="s2", advocate_id="ada", content_id="c1")))
        await w.loop.run_due()
        assert w.topic.sent == [] and w.store.done["leader:c1:ada"] == "skipped:already_shared"

    run(scenario())


def test_digest_planned_once_per_period_in_local_time() -> None:
    async def scenario() -> None:
        w = World()
        await w.prefs.update("ada", Preferences(channels={ChannelName.TOPIC: ""}, digest=DigestFrequency.DAILY))
        w.award("e1", 25)
        digests = DigestScheduler(w.views, w.prefs, w.store, w.loop.add, w.clock, send_hour=8)
        w.clock.now = w.clock.now.replace(hour=5, minute=59)  # 07:59 in Helsinki
        assert await digests.tick() == 0
        w.clock.advance(60)
        assert await digests.tick() == 1
        assert await digests.tick() == 0
        await w.loop.run_due()
        assert w.sent_ids(w.topic) == []  # the award is not in the period [yesterday 08:00, today 08:00)
        assert w.store.done["digest:ada:2026-12-07"] == "skipped:empty_digest"
        w.clock.advance(86400)
        assert await digests.tick() == 1
        await w.loop.run_due()
        [(nid, _, message)] = w.topic.sent
        assert nid == "digest:ada:2026-12-08" and "'points': 25" in message.text and "'rank': 1" in message.text

    run(scenario())


def test_planner_ignores_stale_events_and_queues_new_content_for_matching_people() -> None:
    async def scenario() -> None:
        w = World()
        w.enrol("bob", team="ops", language="en")
        item = Item("c5", "Uutinen", language="fi")
        assert await w.planner.content_published(item, w.clock.now - timedelta(days=3)) == 0
        assert await w.planner.content_published(item, w.clock.now) == 1
        assert list(w.store.queue) == ["new:c5:ada"]
        assert await w.planner.content_published(item, w.clock.now) == 0
        # Nothing is queued for an advocate who opted out (delivery would only skip it).
        await w.prefs.opt_out("ada")
        assert await w.planner.content_published(Item("c6", "Toinen", language="fi"), w.clock.now) == 0
        assert "new:c6:ada" not in w.store.queue

    run(scenario())


def test_transient_error_honours_retry_after() -> None:
    async def scenario() -> None:
        w = World()
        w.email.failures.append(TransientDeliveryError("429", retry_after_seconds=30))
        await w.plan("new:c1:ada")
        await w.loop.run_due()
        assert (w.store.queue["new:c1:ada"].due_at - w.clock.now).total_seconds() == 30

    run(scenario())


def test_nobody_is_skipped_as_unknown_while_the_directory_is_being_read() -> None:
    class Lagging:
        current = False

    async def scenario() -> None:
        w = World()
        w.views.followers = [Lagging()]  # type: ignore[list-item]
        await w.store.enqueue([Planned("new:c1:zoe", Kind.NEW_CONTENT, "zoe", w.clock.now, {"title": "T"})])
        w.loop.add(await w.store.all_queued())
        await w.loop.run_due()
        assert "new:c1:zoe" in w.store.queue and w.store.done == {}  # waits for the directory
        w.views.followers = []  # read to the end: zoe is really unknown
        w.clock.advance(1)
        await w.loop.run_due()
        assert w.store.done["new:c1:zoe"] == "skipped:not_enrolled"

    run(scenario())


def test_an_item_withdrawn_while_waiting_is_not_announced() -> None:
    async def scenario() -> None:
        w = World()
        await w.prefs.update(
            "ada", Preferences(channels={ChannelName.TOPIC: ""}, quiet_start=time(11), quiet_end=time(13))
        )
        await w.plan("new:c1:ada")  # 12:00 in Helsinki: held until 13:00
        await w.loop.run_due()
        archived = ContentItem(content_id="c1", title="T", version=2)
        w.views.apply_content(ContentPublished(kind=ContentPublished.Kind.KIND_ARCHIVED, item=archived))
        w.clock.advance(3600)
        await w.loop.run_due()
        assert w.topic.sent == [] and w.store.done["new:c1:ada"] == "skipped:withdrawn"

    run(scenario())
