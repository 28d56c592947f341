"""The rewards and analytics workers as real processes on the real broker and database.

`run_history` produces a generated history of share-made / engagement-observed events (and, for
rewards alone, lesson-completed ones) with aiokafka while the workers (production settings:
rocksdb:// tables) run, optionally SIGKILLing each of them several times mid-stream and restarting
it (R1, tests/faults, kills each 10 times in 100,000 events; the small history here runs without
kills, with lessons). At the end, every ledger entry,
each day's capped total, the balances (wallet and ledger), every announced entry, the
leaderboards and the program's analytics totals must be exactly what references computed from
the same events say: `tests/rewards_reference.py` for rewards and `analytics_reference` here, both
independent of the services' code (they import none of it).

Generator constraints that make the reference exact (documented in the service):
- early sharers: an item is shared within 24 h of publication by at most 8 advocates, so all of
  them rank (the cross-advocate arrival order only matters beyond the limit of 10);
- on an advocate's local day, all share and engagement events belong to one campaign (or none),
  so which entries the daily cap trims cannot move points between campaign boards (lesson
  completions have no campaign and are outside the cap).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from advocacy.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.content.v1.content_pb2 import LessonCompleted
from advocacy.rewards.v1 import rewards_pb2, rewards_pb2_grpc
from advocacy.rewards.v1.rewards_pb2 import PointsAwarded
from advocacy.share.v1.share_pb2 import EngagementKind, EngagementObserved, Share, ShareMade
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from pymongo import MongoClient

from bench.stream import produce
from infra import stack as local_stack
from services.common.events import to_timestamp
from services.common.topics import ENGAGEMENT_OBSERVED, LESSON_COMPLETED, POINTS_AWARDED, SHARE_MADE, dlq_name
from services.platform.supervisor import Platform, ServicePorts
from tests import rewards_reference as oracle
from tests.conftest import PORT_OFFSET, ROOT, make_isolated

# The generated history is produced at this pace while the workers run (and get killed).
PRODUCE_PER_SECOND = 500.0
# Advocates whose balance is also checked by the API against the ledger (each a full ledger scan).
LEDGER_CHECKED_ADVOCATES = 3
TIMEZONES = ["Europe/Helsinki", "America/Los_Angeles", "Asia/Tokyo", "UTC", "Europe/Berlin", "Australia/Sydney"]
NETWORKS = ["NETWORK_LINKEDIN", "NETWORK_X", "NETWORK_FACEBOOK", "NETWORK_XING", "NETWORK_INSTAGRAM"]
START = date(2026, 10, 1)
DAYS = 28
CAMPAIGN_DAYS = range(10, 14)
LESSONS = ["basics", "tone-of-voice", "networks", "privacy"]
CAMPAIGN = oracle.Campaign(
    "autumn",
    datetime(2026, 10, 1, tzinfo=UTC) + timedelta(days=10, hours=-15),
    datetime(2026, 10, 1, tzinfo=UTC) + timedelta(days=14, hours=15),
    2.0,
)


@dataclass
class Advocate:
    advocate_id: str
    name: str
    team: str
    leader: bool
    timezone: str

    def snapshot(self) -> AdvocateSnapshot:
        return AdvocateSnapshot(
            advocate_id=self.advocate_id,
            display_name=self.name,
            team=self.team,
            leader=self.leader,
            timezone=self.timezone,
        )


@dataclass
class Item:
    content_id: str
    published_at: datetime
    campaign_id: str
    early: set[str]


def generate(total: int, seed: int = 5) -> tuple[list[Advocate], list[tuple[str, bytes, object]]]:
    """(advocates, [(topic name, key, event message)]) in per-advocate time order."""
    rnd = random.Random(seed)
    advocates = [
        Advocate(f"adv{i:02d}", f"Name{i} Surname", f"team{i % 5}", i % 7 == 0, TIMEZONES[i % len(TIMEZONES)])
        for i in range(40)
    ]
    ids = [a.advocate_id for a in advocates]
    items: list[Item] = []
    for n in range(60):
        day = rnd.randrange(DAYS)
        campaign = "autumn" if day in CAMPAIGN_DAYS else ""
        published = datetime.combine(START + timedelta(days=day), datetime.min.time(), UTC) - timedelta(hours=14)
        items.append(Item(f"item{n:02d}", published, campaign, set(rnd.sample(ids, 8))))
    events: list[tuple[datetime, str, str, object]] = []
    shares_per_event = 0.25
    n_shares = int(total * shares_per_event)
    seq = 0
    while len(events) < total:
        a = rnd.choice(advocates)
        day = START + timedelta(days=rnd.randrange(DAYS))
        tz = ZoneInfo(a.timezone)
        at = datetime.combine(day, datetime.min.time(), tz) + timedelta(minutes=rnd.randrange(8 * 60, 18 * 60))
        at_utc = at.astimezone(UTC)
        in_campaign = day.toordinal() - START.toordinal() in CAMPAIGN_DAYS
        candidates = [
            i
            for i in items
            if i.published_at <= at_utc
            and (i.campaign_id == "autumn") == in_campaign
            and (at_utc - i.published_at >= timedelta(hours=24, minutes=1) or a.advocate_id in i.early)
        ]
        if not candidates:
            continue
        item = rnd.choice(candidates)
        network = rnd.choice(NETWORKS[:2]) if rnd.random() < 0.7 else rnd.choice(NETWORKS)
        seq += 1
        share_id = f"s{seq}"
        share = ShareMade(
            event_id=f"sh-{seq}",
            occurred_at=to_timestamp(at_utc),
            share=Share(
                share_id=share_id,
                content_id=item.content_id,
                advocate_id=a.advocate_id,
                network=Network.Value(network),
                message="my words" if rnd.random() < 0.5 else "suggested",
                audience_size=rnd.randrange(50, 5000),
                shared_at=to_timestamp(at_utc),
            ),
            advocate=a.snapshot(),
            campaign_id=item.campaign_id,
            personal_wording=rnd.random() < 0.5,
            content_published_at=to_timestamp(item.published_at),
        )
        events.append((at_utc, SHARE_MADE.name, a.advocate_id, share))
        for k in range(rnd.randrange(0, int(2 * (1 - shares_per_event) / shares_per_event) + 1)):
            kind = rnd.choice(["CLICK", "CLICK", "IMPRESSION", "REACTION", "COMMENT", "RESHARE"])
            eng_at = at_utc + timedelta(minutes=rnd.randrange(1, 120))
            events.append(
                (
                    eng_at,
                    ENGAGEMENT_OBSERVED.name,
                    a.advocate_id,
                    EngagementObserved(
                        event_id=f"en-{seq}-{k}",
                        occurred_at=to_timestamp(eng_at),
                        share_id=share_id,
                        content_id=item.content_id,
                        advocate=a.snapshot(),
                        network=Network.Value(network),
                        kind=EngagementKind.Value(f"ENGAGEMENT_KIND_{kind}"),
                        count=rnd.randrange(1, 4) if kind in ("REACTION", "IMPRESSION") else 1,
                        actor_fingerprint=f"fp{rnd.randrange(6)}",
                        campaign_id=item.campaign_id,
                        is_bot=rnd.random() < 0.05,
                        is_self=rnd.random() < 0.05,
                    ),
                )
            )
        if len(events) > total:
            events = events[:total]
    del n_shares
    # Per advocate (= per partition) in time order, as the share service would emit them.
    events.sort(key=lambda e: (e[0], e[1], e[3].event_id))
    return advocates, [(topic, key.encode(), msg) for _, topic, key, msg in events]


def with_lessons(
    advocates: list[Advocate], events: list[tuple[str, bytes, object]], seed: int = 23
) -> list[tuple[str, bytes, object]]:
    """The history with lesson completions merged in per-advocate time order: every third advocate
    completes 1-3 lessons on random days (campaign days included); the first completions are
    produced twice (a producer's retry: the same event at a later place) and a few advocates get a
    second completion event, with another id, of a lesson they completed already."""
    rnd = random.Random(seed)  # apart from the share history's, which stays as R1 knows it
    timed = [(msg.occurred_at.ToDatetime(tzinfo=UTC), topic, key, msg) for topic, key, msg in events]
    n = 0
    for a in advocates[::3]:
        for lesson in rnd.sample(LESSONS, rnd.randrange(1, 4)):
            n += 1
            # Every fourth on a campaign day: a campaign board must not count it.
            day = rnd.choice(CAMPAIGN_DAYS) if n % 4 == 1 else rnd.randrange(DAYS)
            at = datetime.combine(START + timedelta(days=day), datetime.min.time(), UTC)
            at += timedelta(minutes=rnd.randrange(24 * 60))
            done = LessonCompleted(
                event_id=f"lc-{n}",
                occurred_at=to_timestamp(at),
                lesson_id=lesson,
                advocate=a.snapshot(),
                score_percent=80,
                attempts=1,
                lesson_title=lesson.title(),
            )
            key = a.advocate_id.encode()
            timed.append((at, LESSON_COMPLETED.name, key, done))
            if n <= 3:  # sent again, hours later in the stream
                timed.append((at + timedelta(hours=3), LESSON_COMPLETED.name, key, done))
            if n % 5 == 0:  # the same lesson completed again under another id, two days later
                again = LessonCompleted()
                again.CopyFrom(done)
                again.event_id = f"lc-{n}-again"
                again.occurred_at.CopyFrom(to_timestamp(at + timedelta(days=2)))
                timed.append((at + timedelta(days=2), LESSON_COMPLETED.name, key, again))
    timed.sort(key=lambda e: (e[0], e[1], e[3].event_id))
    return [(topic, key, msg) for _, topic, key, msg in timed]


# The small history's rule set sets own_post_points apart from a share's 10, so an own post
# booked as a share (or at a share's points) shows as a difference.
OWN_POST_POINTS = 7


def with_own_posts(
    advocates: list[Advocate], events: list[tuple[str, bytes, object]], seed: int = 31
) -> list[tuple[str, bytes, object]]:
    """The history with advocates' own posts merged in per-advocate time order: every fourth advocate
    posts 2-4 times on non-campaign days (an own post has no campaign: a day stays one campaign's),
    some the same page on the same network again within the hour (a repeat), with a personal-wording
    flag set on some (no bonus may follow) and clicks, reactions and comments on them."""
    rnd = random.Random(seed)  # apart from the share history's, which stays as R1 knows it
    timed = [(msg.occurred_at.ToDatetime(tzinfo=UTC), topic, key, msg) for topic, key, msg in events]
    n = 0
    quiet_days = [d for d in range(DAYS) if d not in CAMPAIGN_DAYS]
    for a in advocates[1::4]:
        pages = [f"https://blog.example.org/{a.advocate_id}/{p}" for p in range(2)]
        for _ in range(rnd.randrange(2, 5)):
            n += 1
            local = datetime.combine(START + timedelta(days=rnd.choice(quiet_days)), datetime.min.time())
            at = (
                local.replace(tzinfo=ZoneInfo(a.timezone)) + timedelta(minutes=rnd.randrange(8 * 60, 17 * 60))
            ).astimezone(UTC)
            network = rnd.choice(NETWORKS[:2])
            page = rnd.choice(pages)
            posts = [at] + ([at + timedelta(minutes=20)] if n % 3 == 0 else [])  # every third: posted again
            for k, post_at in enumerate(posts):
                event = _own_post(a, f"op-{n}-{k}", post_at, network, page, personal=rnd.random() < 0.5)
                timed.append((post_at, SHARE_MADE.name, a.advocate_id.encode(), event))
                for e, kind in enumerate(rnd.sample(["CLICK", "CLICK", "REACTION", "COMMENT"], rnd.randrange(0, 4))):
                    eng_at = post_at + timedelta(minutes=rnd.randrange(1, 30))
                    eng = EngagementObserved(
                        event_id=f"oe-{n}-{k}-{e}",
                        occurred_at=to_timestamp(eng_at),
                        share_id=event.share.share_id,
                        content_id=event.share.content_id,
                        advocate=a.snapshot(),
                        network=event.share.network,
                        kind=EngagementKind.Value(f"ENGAGEMENT_KIND_{kind}"),
                        count=1,
                        actor_fingerprint=f"fp{e}",
                        own_post=True,
                    )
                    timed.append((eng_at, ENGAGEMENT_OBSERVED.name, a.advocate_id.encode(), eng))
    timed.sort(key=lambda e: (e[0], e[1], e[3].event_id))
    return [(topic, key, msg) for _, topic, key, msg in timed]


def _own_post(a: Advocate, event_id: str, at: datetime, network: str, page: str, personal: bool) -> ShareMade:
    # The share service's synthetic id: one per advocate and page (its exact hash does not matter here).
    content_id = "own:" + page.rsplit("/", 2)[-2] + "-" + page.rsplit("/", 1)[-1]
    return ShareMade(
        event_id=event_id,
        occurred_at=to_timestamp(at),
        share=Share(
            share_id=f"s-{event_id}",
            content_id=content_id,
            advocate_id=a.advocate_id,
            network=Network.Value(network),
            message="my own post",
            audience_size=300,
            shared_at=to_timestamp(at),
            target_url=page,
            own_post=True,
        ),
        advocate=a.snapshot(),
        personal_wording=personal,
    )


@dataclass(frozen=True)
class Raw:
    """A message value as produced, whatever it is (`produce` sends `SerializeToString()`)."""

    value: bytes

    def SerializeToString(self) -> bytes:
        return self.value


def poison_lessons(advocates: list[Advocate]) -> list[tuple[str, bytes, object]]:
    """Completions the award agent must dead-letter: one that does not decode, one without a lesson."""
    a = advocates[1]
    no_lesson = LessonCompleted(event_id="lc-poison", occurred_at=to_timestamp(datetime(2026, 10, 5, tzinfo=UTC)))
    no_lesson.advocate.CopyFrom(a.snapshot())
    key = a.advocate_id.encode()
    return [(LESSON_COMPLETED.name, key, Raw(b"\xff\xffnot protobuf")), (LESSON_COMPLETED.name, key, no_lesson)]


async def dead_letter_reasons(bootstrap: str, topic: str, expected: int, wait_s: float = 60.0) -> list[str]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    reasons: list[str] = []
    deadline = time.monotonic() + wait_s
    try:
        while time.monotonic() < deadline and len(reasons) < expected:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                reasons += [dict(r.headers)["dlq.reason"].decode() for r in records]
    finally:
        await consumer.stop()
    return sorted(reasons)


def analytics_reference(events: list[tuple[str, bytes, object]]) -> dict[str, int]:
    """Program totals over all time, counted here from the events (unique clicks: one per actor,
    share and fixed 30-minute slot, never bots or the sharer; potential reach: the audience of each
    (item, advocate, network) once, at its first share in the order produced)."""
    ref = dict.fromkeys(("shares", "potential_reach", "impressions", "clicks", "reactions", "comments", "reshares"), 0)
    sharers: set[str] = set()
    slots: set[tuple[str, str, int]] = set()
    reached: set[tuple[str, str, int]] = set()
    for _topic, _key, msg in events:
        if isinstance(msg, ShareMade):
            ref["shares"] += 1
            triple = (msg.share.content_id, msg.share.advocate_id, msg.share.network)
            if triple not in reached:
                reached.add(triple)
                ref["potential_reach"] += msg.share.audience_size
            sharers.add(msg.share.advocate_id)
            continue
        assert isinstance(msg, EngagementObserved)
        kind = EngagementKind.Name(msg.kind).removeprefix("ENGAGEMENT_KIND_").lower()
        if kind == "click":
            epoch = msg.occurred_at.seconds
            if not (msg.is_bot or msg.is_self):
                slots.add((msg.share_id, msg.actor_fingerprint, epoch - epoch % 1800))
        else:
            ref[{"impression": "impressions"}.get(kind, kind + "s")] += max(msg.count, 1)
    ref["clicks"] = len(slots)
    ref["distinct_sharers"] = len(sharers)
    return ref


async def announced_ids(bootstrap: str, topic: str, expected: int, wait_s: float = 120.0) -> set[str]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    ids: set[str] = set()
    deadline = time.monotonic() + wait_s
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for records in batch.values():
                for r in records:
                    ids.add(PointsAwarded.FromString(r.value).event_id)
            if len(ids) >= expected and not batch:
                break
    finally:
        await consumer.stop()
    return ids


def wait_for(probe, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(1.0)


def produce_paced(bootstrap: str, prefix: str, events: list, per_second: float = PRODUCE_PER_SECOND) -> None:
    """Produces the events in order, chunk by chunk (each acknowledged before the next), at about
    `per_second`."""
    chunk = max(1, int(per_second / 2))
    for n in range(0, len(events), chunk):
        t0 = time.monotonic()
        asyncio.run(produce(bootstrap, prefix, events[n : n + chunk]))
        time.sleep(max(0.0, 0.5 - (time.monotonic() - t0)))


def start_workers(isolated, tag: str, services: tuple[str, ...]) -> Platform:
    env = {
        **isolated.env,
        "ADVOCACY_STATE_DIR": str(ROOT / ".local" / "test" / "faust" / isolated.prefix),
        # The production store: the test proves recovery of rocksdb-backed tables.
        "ADVOCACY_FAUST_STORE": "rocksdb://",
        # A SIGKILLed member's partitions are reassigned after the session timeout: short, deliberately.
        "ADVOCACY_BROKER_SESSION_TIMEOUT_SECONDS": "6",
        "ADVOCACY_BROKER_HEARTBEAT_INTERVAL_SECONDS": "1",
        "ADVOCACY_RULES_REFRESH_SECONDS": "1",
        "ADVOCACY_SHUTDOWN_GRACE_SECONDS": "3",
        # Analytics' batches (10,000 by default) so small that each of its kills can fall
        # mid-stream: every kill waits for a commit after the previous restart.
        "ADVOCACY_BATCH_MAX_EVENTS": "4000",
    }
    # Ports no other test uses at any offset (e2e takes 191x1-191x4 of the next offset), below
    # the ephemeral range so that no outgoing connection holds them when a worker restarts.
    ports = {
        "rewards": ServicePorts(grpc=23053 + PORT_OFFSET, metrics=19160 + PORT_OFFSET),
        "analytics": ServicePorts(grpc=23054 + PORT_OFFSET, metrics=19161 + PORT_OFFSET),
    }
    platform = Platform(
        env=env,
        log_dir=ROOT / ".local" / "test" / "logs" / isolated.prefix / tag,
        ports={name: ports[name] for name in services},
    )
    for name in services:
        platform.start_service(name)
    for name in services:
        platform.wait_serving(name, 180)
    return platform


async def committed(bootstrap: str, group: str, topics: set[str]) -> int:
    """Events the group committed on `topics` (committed offset = events done, per partition)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    except KafkaError:  # no coordinator before the group's first join
        return 0
    finally:
        await admin.close()
    return sum(max(m.offset, 0) for tp, m in offsets.items() if tp.topic in topics)


@dataclass(frozen=True)
class Kill:
    """One SIGKILL as observed: the process, its exit status, and the events its group had
    committed right after it died (a dead member commits nothing more)."""

    service: str
    pid: int
    exit_code: int
    committed: int


def kill_spread(
    stack, platform: Platform, groups: dict[str, str], inputs: set[str], total: int, kills: int
) -> list[Kill]:
    """Kill i of each worker comes once its group committed i/(kills+1) of the events and more
    than at its previous kill (the restarted process did work): spread over the run."""
    next_kill = dict.fromkeys(groups, 1)
    log: list[Kill] = []
    deadline = time.monotonic() + 1800
    while any(k <= kills for k in next_kill.values()):
        assert time.monotonic() < deadline, f"kills not done: {next_kill}"
        for name, group in groups.items():
            if next_kill[name] > kills:
                continue
            done = asyncio.run(committed(stack.kafka_bootstrap, group, inputs))
            before = max((k.committed for k in log if k.service == name), default=0)
            if done >= total * next_kill[name] // (kills + 1) and done > before:
                assert done < total, f"{name} finished before its kill: raise the event count"
                pid = platform.processes[name].pid
                code = platform.stop_service(name, sig=signal.SIGKILL)
                log.append(Kill(name, pid, code, asyncio.run(committed(stack.kafka_bootstrap, group, inputs))))
                assert code == -signal.SIGKILL, log[-1]
                next_kill[name] += 1
                platform.start_service(name)
        for name in platform.exited():
            # A restart that died (e.g. its port briefly held by another process on this
            # shared machine) is started again, as Kubernetes would.
            platform.processes.pop(name, None)
            platform.start_service(name)
        time.sleep(0.2)
    return log


def database_outage(stack, group: str, inputs: set[str], total: int, seconds: float) -> int:
    """Stops the database for `seconds` once the group is a third through; returns where it was."""
    wait_for(
        lambda: asyncio.run(committed(stack.kafka_bootstrap, group, inputs)) >= total // 3,
        600,
        "rewards a third through",
    )
    done = asyncio.run(committed(stack.kafka_bootstrap, group, inputs))
    assert done < total, "rewards finished before the outage: raise the event count"
    local_stack.stop_mongo(stack)
    time.sleep(seconds)
    local_stack.start_mongo(stack)
    return done


def ledger_documents(isolated) -> list[dict]:
    """The whole ledger in ONE projected scan (per-advocate reads each scan it on FerretDB)."""
    fields = {"advocate_id": 1, "points": 1, "capped": 1, "rule": 1, "local_day": 1, "campaign_id": 1}
    with MongoClient(isolated.stack.mongo_url) as mongo:
        return list(mongo[isolated.database]["ledger"].find({}, fields))


def balances_of(docs: list[dict]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for doc in docs:
        totals[doc["advocate_id"]] += int(doc["points"])
    return {a: p for a, p in totals.items() if p}


def check_ledger(isolated, ref: oracle.Reference) -> list[dict]:
    """Waits for the ledger's balances to equal the reference, then compares every entry: its id,
    advocate, local day, rule, campaign and points before the cap (granted + capped; which entries
    of a capped day the cap trims depends on arrival order), and each day's granted total."""
    want = {a: p for a, p in ref.balances.items() if p}
    try:
        # Committed means done: the early-sharer bonuses (an internal hop) may trail a little.
        wait_for(lambda: balances_of(ledger_documents(isolated)) == want, 300, "ledger totals equal to the reference")
    except AssertionError:
        got_totals = balances_of(ledger_documents(isolated))
        diff = {a: (got_totals.get(a, 0), want.get(a, 0)) for a in set(got_totals) | set(want)}
        diff = {a: d for a, d in diff.items() if d[0] != d[1]}
        raise AssertionError(f"ledger differs from the reference (got, want): {diff}") from None
    time.sleep(3)  # nothing more may arrive: a late double award would show now
    docs = ledger_documents(isolated)
    assert balances_of(docs) == want
    got = {
        d["_id"]: oracle.Entry(
            d["advocate_id"], d["local_day"], d["rule"], int(d["points"]) + int(d.get("capped", 0)), d["campaign_id"]
        )
        for d in docs
    }
    assert len(got) == len(docs)
    missing, extra = set(ref.entries) - set(got), set(got) - set(ref.entries)
    assert not missing and not extra, f"entries missing {sorted(missing)[:10]}, unexpected {sorted(extra)[:10]}"
    wrong = {k: (got[k], e) for k, e in ref.entries.items() if got[k] != e}
    assert not wrong, f"{len(wrong)} entries differ (got, want), e.g. {list(wrong.items())[:5]}"
    by_day: dict[tuple[str, str], int] = defaultdict(int)
    for d in docs:
        by_day[(d["advocate_id"], d["local_day"])] += int(d["points"])
    assert by_day == ref.by_day
    return docs


def check_balances(stub, advocates: list[Advocate], ref: oracle.Reference, docs: list[dict]) -> None:
    """Every wallet balance (one read each) equals the reference; the API's own ledger check
    (wallet = ledger-derived balance, entry count) for a few advocates, as each of those calls
    reads the whole ledger on FerretDB (the ledger as a whole was compared already)."""
    balances = ref.balances
    for a in advocates:
        b = stub.GetBalance(rewards_pb2.GetBalanceRequest(advocate_id=a.advocate_id), timeout=60)
        assert b.points == balances.get(a.advocate_id, 0), a.advocate_id
    for a in advocates[:LEDGER_CHECKED_ADVOCATES]:
        b = stub.GetBalance(
            rewards_pb2.GetBalanceRequest(advocate_id=a.advocate_id, with_ledger_check=True), timeout=150
        )
        assert b.points == b.ledger_points == balances.get(a.advocate_id, 0), a.advocate_id
        assert b.entries == sum(1 for d in docs if d["advocate_id"] == a.advocate_id), a.advocate_id


PERIODS = (
    (rewards_pb2.PERIOD_WEEK, oracle.WEEK),
    (rewards_pb2.PERIOD_MONTH, oracle.MONTH),
    (rewards_pb2.PERIOD_QUARTER, oracle.QUARTER),
    (rewards_pb2.PERIOD_ALL_TIME, oracle.ALL_TIME),
)


def check_boards(stub, advocates: list[Advocate], ref: oracle.Reference, board_days: tuple[str, ...]) -> None:
    """Global, team, leaders and campaign boards of each period containing each of `board_days`,
    and the all-time teams-per-active-advocate board, equal the reference."""
    by_id = {a.advocate_id: a for a in advocates}
    campaign_of_day = ref.campaign_of_day()

    def got_board(b, period, day="", **kw):
        reply = stub.GetLeaderboard(
            rewards_pb2.GetLeaderboardRequest(board=b, period=period, day=day, limit=500, **kw), timeout=30
        )
        return {r.key: r.points for r in reply.rows if r.points}, reply

    for period, name in PERIODS:
        for day in board_days:
            bounds = oracle.period(name, date.fromisoformat(day))
            got, reply = got_board(rewards_pb2.BOARD_GLOBAL, period, day)
            assert (reply.first_day, reply.last_day) == (bounds or ("", "")), (name, day)
            assert got == oracle.board(ref, bounds), (name, day)
            got, _ = got_board(rewards_pb2.BOARD_TEAM, period, day, team="team1")
            assert got == oracle.board(ref, bounds, lambda a, d: by_id[a].team == "team1"), (name, day)
            got, _ = got_board(rewards_pb2.BOARD_LEADERS, period, day)
            assert got == oracle.board(ref, bounds, lambda a, d: by_id[a].leader), (name, day)
            got, _ = got_board(rewards_pb2.BOARD_CAMPAIGN, period, day, campaign_id="autumn")
            in_campaign = oracle.board(ref, bounds, lambda a, d: campaign_of_day.get((a, d)) == "autumn", campaign=True)
            assert got == in_campaign, (name, day)
    _, fair = got_board(rewards_pb2.BOARD_TEAMS_PER_ACTIVE_ADVOCATE, rewards_pb2.PERIOD_ALL_TIME)
    want = oracle.teams_per_active_advocate(ref.balances, {a.advocate_id: a.team for a in advocates})
    assert [(r.key, r.points, r.active_advocates, r.score) for r in fair.rows] == want


def put_own_post_points(stub, points: int) -> None:
    """The rule set in force with own_post_points set (every other value as it is)."""
    rules = stub.GetRuleSet(rewards_pb2.GetRuleSetRequest(), timeout=30)
    rules.own_post_points = points
    assert stub.PutRuleSet(rewards_pb2.PutRuleSetRequest(rules=rules), timeout=30).own_post_points == points


def check_ready_to_share(stub, advocates: list[Advocate], ref: oracle.Reference) -> None:
    """GetBadges shows "ready-to-share" to exactly the advocates with a completed lesson (there are
    some of both)."""
    completed = {a for a, n in ref.lessons_completed.items() if n >= 1}
    assert completed and len(completed) < len(advocates)
    for a in advocates:
        got = stub.GetBadges(rewards_pb2.GetBadgesRequest(advocate_id=a.advocate_id), timeout=30)
        assert ("ready-to-share" in got.badges) == (a.advocate_id in completed), a.advocate_id


def check_analytics(platform: Platform, events: list, within: float = 60.0) -> None:
    """The program's all-time figures equal the reference. The worker writes its rollup documents
    apart from its batches (a round every 0.2 s), so they may trail its committed offsets by a
    round: asked again until equal or `within` seconds passed (a lost event never converges)."""
    want = analytics_reference(events)
    deadline = time.monotonic() + within
    while True:
        got = program_figures(platform)
        if got == want or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert got == want


def program_figures(platform: Platform) -> dict[str, int]:
    with platform.channel("analytics") as ach:
        series = analytics_pb2_grpc.AnalyticsServiceStub(ach).GetStats(
            analytics_pb2.GetStatsRequest(
                dimension=analytics_pb2.DIMENSION_PROGRAM, granularity=analytics_pb2.GRANULARITY_ALL_TIME
            ),
            timeout=120,
        )
    [point] = series.points
    return {
        "shares": point.shares,
        "distinct_sharers": point.distinct_sharers,
        "potential_reach": point.potential_reach,
        "impressions": point.impressions_reported,
        "clicks": point.unique_clicks,
        "reactions": point.reactions,
        "comments": point.comments,
        "reshares": point.reshares,
    }


class Phases(dict):
    """Phase name -> seconds since the previous phase ended, printed with the figures."""

    def __init__(self) -> None:
        super().__init__()
        self.start = time.monotonic()

    def done(self, name: str) -> None:
        now = time.monotonic()
        self[name] = round(now - self.start, 1)
        self.start = now


def run_history(
    stack,
    total: int,
    kills: int,
    services: tuple[str, ...] = ("rewards",),
    database_outage_seconds: float = 0,
    produce_per_second: float = PRODUCE_PER_SECOND,
    board_days: tuple[str, ...] = ("2026-10-12", "2026-10-27"),
    lessons: bool = False,
    own_posts: bool = False,
) -> dict:
    """Streams `total` events through the workers, SIGKILLs each worker `kills` times at points
    spread over the run (each mid-stream), optionally stops the database for
    `database_outage_seconds` once rewards is a third through, and checks the results against the
    independent references. Returns the run's figures, with the kills as observed (`Kill`s).
    `lessons` adds lesson completions (`with_lessons`) and checks the "ready to share" badge; only
    with rewards alone (analytics' completion rates are checked by their own tests). `own_posts`
    adds advocates' own posts and their engagement (`with_own_posts`), at OWN_POST_POINTS each."""
    assert not lessons or services == ("rewards",)
    phases = Phases()
    isolated = make_isolated(stack)
    advocates, events = generate(total)
    if lessons:
        events = with_lessons(advocates, events)
    if own_posts:
        events = with_own_posts(advocates, events)
    rules = oracle.Rules(own_post=OWN_POST_POINTS if own_posts else None)
    ref = oracle.expected(events, [CAMPAIGN], rules)
    poison = poison_lessons(advocates) if lessons else []
    events += poison  # (after the reference: it sees only what should be awarded)
    total = len(events)  # every message produced, repeats and poison included: what the group commits
    phases.done("generate")
    platform = start_workers(isolated, "worker", services)
    channel = platform.channel("rewards")
    stub = rewards_pb2_grpc.RewardsServiceStub(channel)
    inputs = {isolated.prefix + t.name for t in (SHARE_MADE, ENGAGEMENT_OBSERVED, LESSON_COMPLETED)}
    groups = {name: f"{isolated.prefix}advocacy-{name}" for name in services}
    try:
        stub.UpsertCampaign(
            rewards_pb2.UpsertCampaignRequest(
                campaign=rewards_pb2.Campaign(
                    campaign_id=CAMPAIGN.campaign_id,
                    starts_at=to_timestamp(CAMPAIGN.starts_at),
                    ends_at=to_timestamp(CAMPAIGN.ends_at),
                    multiplier=CAMPAIGN.multiplier,
                )
            )
        )
        if own_posts:
            put_own_post_points(stub, OWN_POST_POINTS)
        time.sleep(1.5)  # the agent's rule/campaign cache refreshes every second
        phases.done("start")
        started = time.monotonic()
        # Paced in a thread while the kills happen: the batched workers consume faster than a
        # one-shot produce, so analytics would have finished before its first kill.
        producing = threading.Thread(
            target=produce_paced, args=(stack.kafka_bootstrap, isolated.prefix, events, produce_per_second)
        )
        producing.start()
        killed = kill_spread(stack, platform, groups, inputs, total, kills)
        kill_log = [f"{k.service}@{k.committed}" for k in killed]
        if database_outage_seconds:
            done = database_outage(stack, groups["rewards"], inputs, total, database_outage_seconds)
            kill_log.append(f"database-outage@{done}")
        producing.join()
        for name in services:
            platform.wait_serving(name, 180)

        def all_committed() -> bool:
            return all(
                asyncio.run(committed(stack.kafka_bootstrap, group, inputs)) >= total for group in groups.values()
            )

        wait_for(all_committed, 1800, "every event committed by every worker")
        duration = time.monotonic() - started
        phases.start = time.monotonic()
        docs = check_ledger(isolated, ref)
        phases.done("ledger equal")
        check_balances(stub, advocates, ref, docs)
        phases.done("balances")
        check_boards(stub, advocates, ref, board_days)
        phases.done("boards")
        if lessons:
            check_ready_to_share(stub, advocates, ref)
            dlq = dlq_name(isolated.prefix + LESSON_COMPLETED.name)
            assert asyncio.run(dead_letter_reasons(stack.kafka_bootstrap, dlq, len(poison))) == [
                "invalid",
                "undecodable_value",
            ]
        # Every ledger entry was announced, and nothing else (re-announcements carry the same id).
        ids = asyncio.run(announced_ids(stack.kafka_bootstrap, isolated.prefix + POINTS_AWARDED.name, len(docs)))
        assert ids == set(ref.entries)
        phases.done("announcements")
        if "analytics" in services:
            check_analytics(platform, events)
            phases.done("analytics")
        figures = {
            "events": len(events),
            "kills": killed,
            "seconds": round(duration, 1),
            "events_per_second": round(len(events) / duration, 1),
            "phases": dict(phases),
        }
        print(
            f"events={len(events)} ledger_entries={len(docs)} capped_days={ref.capped_days} "
            f"kills={len(killed)} ({', '.join(kill_log) or 'none'}) duration={duration:.1f}s "
            f"rate={figures['events_per_second']}/s (produce to all committed, restarts included); "
            f"other phases (s): {dict(phases)}"
        )
        if total >= 10_000:
            assert ref.capped_days > 0, "the history should exercise the daily cap"
        return figures
    finally:
        channel.close()
        platform.stop()


@pytest.mark.timeout(600)
def test_small_history_matches_the_reference(stack):
    # With lesson completions (repeats of one event, and a second event of a completed lesson) and
    # advocates' own posts (their own rule's points, repeats, engagement on them).
    total = int(os.environ.get("ADVOCACY_REWARDS_SMALL_EVENTS", "1500"))
    run_history(stack, total=total, kills=0, lessons=True, own_posts=True)
