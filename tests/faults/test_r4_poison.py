"""R4: poison messages mixed with good ones on every consumed topic. Every consumer group sends
each poison message to `<topic>.dlq` (with the error and its origin in headers) and goes on; every
good event is processed exactly as in a clean run; and the pace holds: good events processed per
second within 20 % of a clean run.

Runs, one after the other on the same platform: a small warm-up, then clean, poisoned, clean,
poisoned, ..., clean (ADVOCACY_FAULT_R4_ROUNDS poisoned runs, 4). The runs carry the same good
events (each run its own advocates and items); the poisoned runs share ADVOCACY_FAULT_POISON_PER_TOPIC
(10,000) poison messages on each of the four topics, spread evenly among their good ones. A run's
time is wall time from its first produce until every consumer group committed past the run's last
message; its throughput is the good events processed (summed over the consumer groups) per second
of that time. Each poisoned run is compared with the two clean runs around it (their pooled rate),
so a drift over the test (collections growing, the machine's load moving) weighs on both sides
alike. The issue's target is poisoned >= 0.8 x clean, printed as met / NOT met with the median of
the rounds. Its figures are noisy (a run lasts 5-7 s, and one slow batch or commit step moves a
round by 0.1: single rounds range 0.70-1.02 around medians of 0.80-0.92 on an idle 2-core
machine), and speed targets are proven by printed figures rather than timed assertions, so the
assertion is a regression floor of 0.5 (one-at-a-time dead-lettering runs at about 0.1).

Good events per run: ADVOCACY_FAULT_GOOD_PER_TOPIC on `share-made` and `engagement-observed`,
ADVOCACY_FAULT_GOOD_VIEWS_PER_TOPIC on `content-published` and `advocate-changed`. The views on
the last two are kept with a conditional upsert per event, which FerretDB's SQLite backend runs as
a collection scan (README, Local stack), so they stay small there.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import time
import urllib.request
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest
from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.content.v1.content_pb2 import ContentItem, ContentPublished, ContentStatus
from advocacy.share.v1.share_pb2 import (
    Advocate,
    AdvocateChanged,
    EngagementKind,
    EngagementObserved,
    EngagementSource,
    EnrolmentPeriod,
    Share,
    ShareMade,
)
from aiokafka import AIOKafkaProducer
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from pymongo import MongoClient

from services.common.events import new_event_id, to_timestamp, utcnow
from services.common.topics import ADVOCATE_CHANGED, CONTENT_PUBLISHED, ENGAGEMENT_OBSERVED, SHARE_MADE, dlq_name

POISON_PER_TOPIC = int(os.environ.get("ADVOCACY_FAULT_POISON_PER_TOPIC", "10000"))
ROUNDS = int(os.environ.get("ADVOCACY_FAULT_R4_ROUNDS", "4"))
GOOD_PER_TOPIC = int(os.environ.get("ADVOCACY_FAULT_GOOD_PER_TOPIC", "1250"))
GOOD_VIEWS_PER_TOPIC = int(os.environ.get("ADVOCACY_FAULT_GOOD_VIEWS_PER_TOPIC", "50"))
WARM_UP = 100  # good and poison per topic, not measured
PACE_TARGET = 0.8  # the target, printed
PACE_FLOOR = 0.5  # asserted: see the module docstring
CATCH_UP_TIMEOUT = float(os.environ.get("ADVOCACY_FAULT_CATCH_UP_SECONDS", "600"))

TOPICS = (SHARE_MADE.name, ENGAGEMENT_OBSERVED.name, CONTENT_PUBLISHED.name, ADVOCATE_CHANGED.name)
VIEW_TOPICS = (CONTENT_PUBLISHED.name, ADVOCATE_CHANGED.name)
# Who consumes what: (service whose metrics count it, consumer group suffix) -> topics.
CONSUMERS: dict[tuple[str, str], tuple[str, ...]] = {
    ("rewards", "advocacy-rewards"): (SHARE_MADE.name, ENGAGEMENT_OBSERVED.name),
    ("analytics", "advocacy-analytics"): TOPICS,
    ("content", "advocacy-content-feed-views"): (ADVOCATE_CHANGED.name, SHARE_MADE.name),
}
GROUPS_OF = {t: sum(t in topics for topics in CONSUMERS.values()) for t in TOPICS}


def poison(n: int) -> bytes:
    # 0xff 0xfe ... starts a tag with wire type 7, which does not exist: never decodes.
    return b"\xff\xfe poison %d" % n


def good_events(run: str, i: int, topics: tuple[str, ...]) -> dict[str, tuple[str, bytes]]:
    """The good events of entity i of a run on `topics`: topic -> (key, value)."""
    now = to_timestamp(utcnow())
    advocate = AdvocateSnapshot(advocate_id=f"{run}-a{i}", display_name=f"Advocate {i}", team=f"team{i % 4}")
    content_id, share_id = f"{run}-c{i}", f"{run}-s{i}"
    share = Share(
        share_id=share_id,
        content_id=content_id,
        advocate_id=advocate.advocate_id,
        network=Network.NETWORK_LINKEDIN,
        audience_size=100 + i,
        shared_at=now,
    )
    events = {
        SHARE_MADE.name: lambda: ShareMade(
            event_id=new_event_id(), occurred_at=now, share=share, advocate=advocate, personal_wording=i % 2 == 0
        ),
        ENGAGEMENT_OBSERVED.name: lambda: EngagementObserved(
            event_id=new_event_id(),
            occurred_at=now,
            share_id=share_id,
            content_id=content_id,
            advocate=advocate,
            network=Network.NETWORK_LINKEDIN,
            kind=EngagementKind.ENGAGEMENT_KIND_REACTION,
            count=1 + i % 3,
            source=EngagementSource.ENGAGEMENT_SOURCE_NETWORK_WEBHOOK,
        ),
        CONTENT_PUBLISHED.name: lambda: ContentPublished(
            event_id=new_event_id(),
            occurred_at=now,
            kind=ContentPublished.Kind.KIND_PUBLISHED,
            item=ContentItem(
                content_id=content_id,
                title=f"Item {i}",
                url="https://example.com/x",
                status=ContentStatus.CONTENT_STATUS_PUBLISHED,
            ),
        ),
        ADVOCATE_CHANGED.name: lambda: AdvocateChanged(
            event_id=new_event_id(),
            occurred_at=now,
            advocate=Advocate(profile=advocate, enrolled=True),
            enrolments=[EnrolmentPeriod(enrolled_at=now)],
            version=1,
        ),
    }
    key = {CONTENT_PUBLISHED.name: content_id}
    return {t: (key.get(t, advocate.advocate_id), events[t]().SerializeToString()) for t in topics}


def good_count(topic: str, good: int, good_views: int) -> int:
    return good_views if topic in VIEW_TOPICS else good


@dataclass
class Run:
    name: str
    good: int  # per topic (share-made, engagement-observed)
    good_views: int  # per view topic
    poison: int  # per topic
    seconds: float = 0.0  # first produce -> every group committed past the run's last message
    processed_seconds: float = 0.0  # first produce -> every consumer's counters show the run done
    produce_seconds: float = 0.0
    finished: dict[str, float] = field(default_factory=dict)  # service -> seconds until its counters showed the run
    # "<topic>/<partition>/<offset>" of each poison message -> its value
    poison_origins: dict[str, bytes] = field(default_factory=dict)

    @property
    def good_handled(self) -> int:
        """Good events processed by the consumer groups, summed (each group processes its copy)."""
        return sum(good_count(t, self.good, self.good_views) for topics in CONSUMERS.values() for t in topics)

    @property
    def rate(self) -> float:
        return self.good_handled / self.seconds


def schedule(run: Run) -> list[tuple[str, bytes, bytes, bool]]:
    """Every message of a run as (topic, key, value, is_poison): on each topic its good events and
    poison spread evenly, and the topics interleaved by their progress."""
    per_topic: dict[str, list[tuple[bytes, bytes, bool]]] = {t: [] for t in TOPICS}
    good_by_topic: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
    for i in range(max(run.good, run.good_views)):
        topics = tuple(t for t in TOPICS if i < good_count(t, run.good, run.good_views))
        for topic, event in good_events(run.name, i, topics).items():
            good_by_topic[topic].append(event)
    for topic in TOPICS:
        good, bad = good_by_topic[topic], run.poison
        total, sent_bad = len(good) + bad, 0
        for n in range(total):
            if bad and (n + 1) * bad // total > sent_bad:
                per_topic[topic].append((f"poison-{sent_bad}".encode(), poison(sent_bad), True))
                sent_bad += 1
            else:
                key, value = good[n - sent_bad]
                per_topic[topic].append((key.encode(), value, False))
    ordered = sorted(
        ((n / len(msgs), topic, msg) for topic, msgs in per_topic.items() for n, msg in enumerate(msgs)),
        key=lambda x: x[0],
    )
    return [(topic, key, value, bad) for _, topic, (key, value, bad) in ordered]


def end_offsets(consumer: KafkaConsumer, topics: list[str]) -> dict[TopicPartition, int]:
    partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or []]
    return consumer.end_offsets(partitions)


def behind(admin: KafkaAdminClient, ends: dict[str, dict[TopicPartition, int]]) -> list[str]:
    """The (group, partition)s not yet committed up to `ends`."""
    # kafka-python 3.0: list_group_offsets({group: partitions}); -1 = nothing committed yet.
    committed = admin.list_group_offsets({group: list(end) for group, end in ends.items()})
    out = []
    for group, end in ends.items():
        for tp, offset in end.items():
            done = committed.get(group, {}).get(tp)
            at = done.offset if done is not None else -1
            if offset > 0 and at < offset:
                out.append(f"{group} {tp.topic}/{tp.partition} at {at} of {offset}")
    return out


def counters(platform) -> dict[tuple[str, str, str], float]:
    """Per (service, topic): events consumed and dead-lettered so far (one scrape per service)."""
    out = {}
    for (service, _), topics in CONSUMERS.items():
        text = urllib.request.urlopen(f"http://127.0.0.1:{platform.ports[service].metrics}/metrics", timeout=5).read()
        totals: Counter[tuple[str, str]] = Counter()
        for match in re.finditer(rb"^(advocacy_events_(?:consumed|dead_lettered)_total)\{(.*)\} (\S+)$", text, re.M):
            if topic_label := re.search(rb'topic="([^"]+)"', match.group(2)):
                totals[(match.group(1).decode(), topic_label.group(1).decode())] += float(match.group(3))
        for topic in topics:
            for name in ("advocacy_events_consumed_total", "advocacy_events_dead_lettered_total"):
                out[(service, topic, name)] = totals[(name, topic)]
    return out


def expected_counts(run: Run) -> dict[tuple[str, str, str], float]:
    out = {}
    for (service, _), topics in CONSUMERS.items():
        for topic in topics:
            out[(service, topic, "advocacy_events_consumed_total")] = good_count(topic, run.good, run.good_views)
            out[(service, topic, "advocacy_events_dead_lettered_total")] = run.poison
    return out


async def produce_all(bootstrap: str, prefix: str, messages: list) -> tuple[float, float, list[tuple[Any, bytes]]]:
    """Sends every message in order and waits for every ack: (monotonic time of the first send,
    seconds until the last ack, [(record metadata, value)] of the poison messages)."""
    # aiokafka's producer (C record batches): kafka-python needs 1.6-2.0 s to produce a poisoned run
    # (0.6-0.7 s a clean one) on the same two cores as the workers it measures.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=256 * 1024)
    await producer.start()
    try:
        started = time.monotonic()
        futures, poison_sent = [], []
        for topic, key, value, bad in messages:
            future = await producer.send(prefix + topic, value=value, key=key)
            futures.append(future)
            if bad:
                poison_sent.append((future, value))
        await asyncio.gather(*futures)
        return started, time.monotonic() - started, [(f.result(), v) for f, v in poison_sent]
    finally:
        await producer.stop()


def run_batch(platform, run: Run) -> dict[tuple[str, str, str], float]:
    """Produces the run and waits until every group committed past it; fills in the run's times and
    poison origins; returns the counters' increase over the run."""
    env = platform.env
    bootstrap, prefix = env["ADVOCACY_KAFKA_BOOTSTRAP"], env["ADVOCACY_TOPIC_PREFIX"]
    messages = schedule(run)  # built before the clock starts: generating the events is not the platform's work
    before = counters(platform)
    expected = expected_counts(run)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        started, run.produce_seconds, sent = asyncio.run(produce_all(bootstrap, prefix, messages))
        ends = {
            prefix + group: end_offsets(consumer, [prefix + t for t in topics])
            for (_, group), topics in CONSUMERS.items()
        }
        deadline = started + CATCH_UP_TIMEOUT
        missing: dict = {}
        while True:
            if not run.processed_seconds:
                now = counters(platform)
                missing = {k: now[k] - before[k] for k, v in expected.items() if now[k] - before[k] < v}
                for service, _ in CONSUMERS:
                    if service not in run.finished and not any(k[0] == service for k in missing):
                        run.finished[service] = time.monotonic() - started
                if not missing:
                    run.processed_seconds = time.monotonic() - started
            if run.processed_seconds and not behind(admin, ends):
                break
            assert time.monotonic() < deadline, (
                f"{run.name}: not caught up within {CATCH_UP_TIMEOUT:.0f} s: counted {missing} of {expected}; "
                f"committed behind: {behind(admin, ends)[:20]}"
            )
            time.sleep(0.25)
        run.seconds = time.monotonic() - started
    finally:
        consumer.close()
        admin.close()
    for meta, value in sent:
        topic = meta.topic[len(prefix) :]
        run.poison_origins[f"{prefix}{topic}/{meta.partition}/{meta.offset}"] = value
    after = counters(platform)
    return {k: after[k] - before[k] for k in after}


def read_dlq(bootstrap: str, topic: str, start: dict[TopicPartition, int]) -> list:
    """Every message of a DLQ topic from `start` to its current end."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=5000)
    try:
        partitions = list(start)
        consumer.assign(partitions)
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        end = consumer.end_offsets(partitions)
        out: list = []
        deadline = time.monotonic() + 120
        while any(consumer.position(tp) < end[tp] for tp in partitions) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                out.extend(r for r in records if r.offset < end[TopicPartition(r.topic, r.partition)])
        return out
    finally:
        consumer.close()


def effects(db, runs: list[str]) -> dict[str, dict[str, object]]:
    """What each run's good events left in the stores, per entity index (one scan per collection):
    the rewards ledger entries, the analytics facts and views, and the content feed views."""
    out: dict[str, dict[str, object]] = {r: defaultdict(list) for r in runs}

    def split(value: str, kind: str) -> tuple[str, str] | None:
        run, _, rest = value.rpartition(f"-{kind}")
        return (run, rest) if run in out else None

    for d in db["ledger"].find({}, {"advocate_id": 1, "rule": 1, "points": 1}):
        if hit := split(d["advocate_id"], "a"):
            out[hit[0]][f"ledger/{hit[1]}"].append((d["rule"], int(d["points"])))
    for d in db["facts"].find({}, {"content_id": 1, "kind": 1, "shares": 1, "potential_reach": 1, "reactions": 1}):
        if hit := split(d["content_id"], "c"):
            fact = (d["kind"], d.get("shares", 0), d.get("potential_reach", 0), d.get("reactions", 0))
            out[hit[0]][f"facts/{hit[1]}"].append(fact)
    for collection, kind in (
        ("advocates", "a"),
        ("contents", "c"),
        ("content_advocates_view", "a"),
        ("content_shared_items", "a"),
    ):
        for d in db[collection].find({}, {"_id": 1}):
            if hit := split(d["_id"].split("/")[0], kind):
                out[hit[0]][collection].append(hit[1])
    return {r: {k: sorted(v) for k, v in found.items()} for r, found in out.items()}


@pytest.mark.timeout(1800)
def test_r4_poison_goes_to_the_dlqs_and_good_events_keep_their_pace(fault_platform_running, figures):
    platform = fault_platform_running
    env = platform.env
    bootstrap, prefix = env["ADVOCACY_KAFKA_BOOTSTRAP"], env["ADVOCACY_TOPIC_PREFIX"]
    tag = uuid.uuid4().hex[:6]
    assert POISON_PER_TOPIC % ROUNDS == 0
    n, per_run, good, views = POISON_PER_TOPIC, POISON_PER_TOPIC // ROUNDS, GOOD_PER_TOPIC, GOOD_VIEWS_PER_TOPIC
    started = time.monotonic()

    run_batch(platform, Run(f"r4w{tag}", WARM_UP, WARM_UP, WARM_UP))  # connections, caches, first batches
    probe = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        dlq_start = {t: end_offsets(probe, [dlq_name(prefix + t)]) for t in TOPICS}
    finally:
        probe.close()
    # clean, poisoned, clean, poisoned, ..., clean: each poisoned run between two clean ones.
    runs = [Run(f"r4c0{tag}", good, views, 0)]
    for r in range(1, ROUNDS + 1):
        runs += [Run(f"r4p{r}{tag}", good, views, per_run), Run(f"r4c{r}{tag}", good, views, 0)]
    deltas = {}
    for run in runs:
        deltas[run.name] = run_batch(platform, run)
        figures(
            f"{run.name}: {run.good_handled} good events (+{run.poison} poison per topic) in {run.seconds:.1f} s "
            f"to committed = {run.rate:.0f} good/s (produced in {run.produce_seconds:.1f} s; processed by "
            + ", ".join(f"{k} {v:.1f} s" for k, v in run.finished.items())
            + ")"
        )
    ratios = []
    for i in range(1, len(runs), 2):
        before, poisoned, after = runs[i - 1], runs[i], runs[i + 1]
        clean_rate = (before.good_handled + after.good_handled) / (before.seconds + after.seconds)
        ratios.append(poisoned.rate / clean_rate)
    ratio = statistics.median(ratios)
    figures(
        f"throughput with poison / clean (each poisoned run vs the two clean runs around it, pooled): "
        f"{', '.join(f'{r:.2f}' for r in ratios)}; median {ratio:.2f} (target {PACE_TARGET}: "
        f"{'met' if ratio >= PACE_TARGET else 'NOT met'}; asserted >= {PACE_FLOOR})"
    )

    # Every consumer group processed each good event once and dead-lettered each poison message.
    for run in runs:
        assert deltas[run.name] == expected_counts(run), run.name

    checks = {"DLQs": time.monotonic()}
    # Each DLQ holds exactly one copy of each poison message per consumer group of its topic, with
    # its error and origin; nothing from the clean runs.
    poison_origins = {o: v for run in runs for o, v in run.poison_origins.items()}
    for topic in TOPICS:
        dead = read_dlq(bootstrap, dlq_name(prefix + topic), dlq_start[topic])
        origins: Counter[str] = Counter()
        for record in dead:
            headers = dict(record.headers)
            origin = headers["dlq.origin"].decode()
            assert headers["dlq.reason"] == b"undecodable_value", headers
            assert headers["dlq.error"].startswith(b"Error parsing message with type"), headers
            assert poison_origins.get(origin) == record.value, origin
            origins[origin] += 1
        mine = {o for o in poison_origins if o.startswith(f"{prefix}{topic}/")}
        assert len(mine) == n
        assert origins == Counter({o: GROUPS_OF[topic] for o in mine}), topic
        figures(f"{dlq_name(topic)}: {len(dead)} messages = {n} poison x {GROUPS_OF[topic]} consumer groups")

    # The good events of every run had the same effects as those of the first clean run.
    checks["stores"] = time.monotonic()
    mongo = MongoClient(env["ADVOCACY_MONGO_URL"])
    try:
        found = effects(mongo[env["ADVOCACY_MONGO_DB"]], [run.name for run in runs])
    finally:
        mongo.close()
    reference = found[runs[0].name]
    ledger = {k: v for k, v in reference.items() if k.startswith("ledger/")}
    facts = {k: v for k, v in reference.items() if k.startswith("facts/")}
    assert len(ledger) == good and all(ledger.values()), "every clean advocate earned points"
    assert len(facts) == good and all(len(v) == 2 for v in facts.values()), "a share and an engagement fact each"
    for collection, size in (
        ("advocates", views),
        ("contents", views),
        ("content_advocates_view", views),
        ("content_shared_items", good),
    ):
        assert len(reference[collection]) == size, collection
    for run in runs[1:]:
        assert found[run.name] == reference, run.name
    checks["done"] = time.monotonic()
    figures(
        f"every run's effects equal the first clean run's: {sum(len(v) for v in ledger.values())} ledger entries "
        f"of {good} advocates, {2 * good} facts, {views} + {views} analytics views, {views} + {good} feed-view "
        f"documents per run; test took {checks['done'] - started:.0f} s (checking the DLQs "
        f"{checks['stores'] - checks['DLQs']:.1f} s, the stores {checks['done'] - checks['stores']:.1f} s)"
    )
    assert ratio >= PACE_FLOOR, f"median pace with poison {ratio:.2f} of the clean pace (floor {PACE_FLOOR})"
