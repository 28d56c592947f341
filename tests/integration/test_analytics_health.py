"""Programme health and training figures of the real analytics worker (a process on the real broker
and FerretDB), against a reference computed here from the generated history with its own
arithmetic (nothing from services/analytics).

The history: advocates enrolled over six months of 2025, some moving team or becoming leaders
later (newer advocate-changed versions), some leaving, a stale older version produced after the
newest; shares spread over the months, a few heavy sharers; lesson completions, some lessons
completed twice (the first completion counts); every seventh event produced twice, at a later
position; the three topics interleaved at random. The second test SIGKILLs the worker mid-stream.
"""

from __future__ import annotations

import csv
import io
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from advocacy.analytics.v1 import analytics_pb2 as pb
from advocacy.analytics.v1 import analytics_pb2_grpc
from advocacy.common.v1.common_pb2 import AdvocateSnapshot
from advocacy.content.v1.content_pb2 import LessonCompleted
from advocacy.share.v1 import share_pb2 as spb
from google.protobuf import json_format
from google.protobuf.message import Message
from kafka import KafkaConsumer, KafkaProducer
from pymongo import MongoClient
from typer.testing import CliRunner

import services.cli.__main__ as cli
from services.common.policy import ADMIN
from services.platform.supervisor import Platform
from tests.conftest import Isolated, make_isolated
from tests.integration.test_analytics_pipeline import analytics_worker, produce, ts

TEAMS = ["red", "green", "blue"]
LESSONS = {"lesson-1": "Why we share", "lesson-2": "Writing your own words", "lesson-3": "Safe sharing"}
FIRST, LAST = "2025-01", "2025-09"
YEAR = 2025


@dataclass
class Version:
    version: int
    team: str
    leader: bool
    periods: list[tuple[datetime, datetime | None]]


@dataclass
class HShare:
    event_id: str
    advocate: str
    at: datetime
    team: str
    leader: bool


@dataclass
class HCompletion:
    event_id: str
    advocate: str
    at: datetime
    lesson: str
    team: str


@dataclass
class History:
    produced: list[tuple[str, bytes, Message]] = field(default_factory=list)
    versions: dict[str, list[Version]] = field(default_factory=dict)
    shares: list[HShare] = field(default_factory=list)
    completions: list[HCompletion] = field(default_factory=list)


def _at(rnd: random.Random, start: datetime, end: datetime) -> datetime:
    return start + timedelta(seconds=rnd.uniform(0, (end - start).total_seconds()))


def _changed(advocate: str, v: Version) -> spb.AdvocateChanged:
    profile = AdvocateSnapshot(advocate_id=advocate, team=v.team, leader=v.leader)
    ev = spb.AdvocateChanged(
        event_id=f"chg-{advocate}-{v.version}",
        occurred_at=ts(v.periods[-1][1] or v.periods[-1][0]),
        advocate=spb.Advocate(profile=profile, enrolled=v.periods[-1][1] is None, version=v.version),
        version=v.version,
    )
    for start, end in v.periods:
        p = ev.enrolments.add()
        p.enrolled_at.CopyFrom(ts(start))
        if end is not None:
            p.left_at.CopyFrom(ts(end))
    return ev


def _advocate(h: History, rnd: random.Random, i: int, out: list[tuple[str, bytes, Message]]) -> None:
    adv = f"adv{i}"
    start = _at(rnd, datetime(YEAR, 1, 1, tzinfo=UTC), datetime(YEAR, 7, 1, tzinfo=UTC))
    first = Version(1, TEAMS[i % 3], i % 9 == 0, [(start, None)])
    versions = [first]
    moved_at = _at(rnd, start, datetime(YEAR, 9, 1, tzinfo=UTC))
    if i % 4 == 1:  # moves team (and some become leaders) later
        versions.append(Version(2, TEAMS[(i + 1) % 3], i % 8 == 1, [(start, None)]))
    if i % 6 == 2:  # leaves
        last = versions[-1]
        versions.append(Version(last.version + 1, last.team, last.leader, [(start, moved_at)]))
    if i % 10 == 3:  # leaves and comes back: the cohort stays the first enrolment's
        back = moved_at + timedelta(days=20)
        last = versions[-1]
        versions.append(Version(last.version + 1, last.team, last.leader, [(start, moved_at), (back, None)]))
    h.versions[adv] = versions
    for v in versions:
        out.append(("advocate-changed", adv.encode(), _changed(adv, v)))
    if i % 7 == 4:  # an older state produced after the newest: must not win
        stale = Version(0, "blue" if first.team != "blue" else "red", not first.leader, [(start, None)])
        out.append(("advocate-changed", adv.encode(), _changed(adv, stale)))

    def snapshot(at: datetime) -> Version:
        return versions[1] if len(versions) > 1 and versions[1].version == 2 and at >= moved_at else first

    end = datetime(YEAR, 9, 30, tzinfo=UTC)
    if i % 5 != 0:  # one in five never shares
        count = rnd.choice([1, 2, 3, 5, 8]) if i % 11 else rnd.randint(20, 40)
        for n in range(count):
            at = _at(rnd, start + timedelta(hours=1), end)
            v = snapshot(at)
            h.shares.append(HShare(f"share-{adv}-{n}", adv, at, v.team, v.leader))
    for lesson in LESSONS:
        if rnd.random() < 0.5:
            for n in range(2 if rnd.random() < 0.2 else 1):  # a second completion counts nothing
                at = _at(rnd, start, end)
                h.completions.append(HCompletion(f"done-{adv}-{lesson}-{n}", adv, at, lesson, snapshot(at).team))


def generate(seed: int, advocates: int = 40) -> History:
    rnd = random.Random(seed)
    h = History()
    events: list[tuple[str, bytes, Message]] = []
    for i in range(advocates):
        _advocate(h, rnd, i, events)
    for s in h.shares:
        snap = AdvocateSnapshot(advocate_id=s.advocate, team=s.team, leader=s.leader)
        share = spb.Share(share_id=s.event_id, content_id="c1", advocate_id=s.advocate, shared_at=ts(s.at))
        ev = spb.ShareMade(event_id=s.event_id, occurred_at=ts(s.at), share=share, advocate=snap)
        events.append(("share-made", s.advocate.encode(), ev))
    for c in h.completions:
        snap = AdvocateSnapshot(advocate_id=c.advocate, team=c.team)
        done = LessonCompleted(
            event_id=c.event_id,
            occurred_at=ts(c.at),
            lesson_id=c.lesson,
            advocate=snap,
            score_percent=100,
            attempts=1,
            lesson_title=LESSONS[c.lesson],
        )
        events.append(("lesson-completed", c.advocate.encode(), done))
    rnd.shuffle(events)  # the topics interleaved; each advocate's versions in any order
    for i, item in enumerate(list(events)):
        if i % 7 == 3:  # the same event again, later
            events.insert(rnd.randint(i + 1, len(events)), item)
    h.produced = events
    return h


# ---------------------------------------------------------------- the independent reference


def month(at: datetime) -> str:
    return at.strftime("%Y-%m")


def month_list(first: str, last: str) -> list[str]:
    out, (y, m) = [], (int(first[:4]), int(first[5:]))
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def ceil_div(a: int, b: int) -> int:
    return (a + b - 1) // b


def rank_value(values: list[int], percent: int) -> int | None:
    """Nearest rank: the value at position ceil(percent * n / 100) of the sorted values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, ceil_div(percent * len(ordered), 100)) - 1]


def latest(h: History) -> dict[str, Version]:
    return {a: max(vs, key=lambda v: v.version) for a, vs in h.versions.items()}


def reference_health(h: History, team: str) -> dict[str, Any]:
    now = latest(h)
    first_enrolment = {a: min(p[0] for p in v.periods) for a, v in now.items()}
    shares_of: dict[str, list[HShare]] = {}
    for s in h.shares:
        shares_of.setdefault(s.advocate, []).append(s)
    months = month_list(FIRST, LAST)
    cohorts = []
    for i, m in enumerate(months):
        members = [a for a in now if month(first_enrolment[a]) == m and (not team or now[a].team == team)]
        if not members:
            continue
        sharers = [a for a in members if a in shares_of]
        days = [
            max(0, int((min(s.at for s in shares_of[a]) - first_enrolment[a]).total_seconds() // 86400))
            for a in sharers
        ]
        retained = [
            sum(1 for a in members if any(month(s.at) == later for s in shares_of.get(a, []))) for later in months[i:]
        ]
        cohorts.append((m, len(members), len(sharers), rank_value(days, 50), rank_value(days, 90), retained))
    activity = []
    for m in months:
        of_month = [s for s in h.shares if month(s.at) == m and (not team or s.team == team)]
        if not of_month:
            continue
        per = Counter(s.advocate for s in of_month)
        counts = sorted(per.values(), reverse=True)
        buckets = [
            sum(1 for c in counts if c == 1),
            sum(1 for c in counts if 2 <= c <= 3),
            sum(1 for c in counts if 4 <= c <= 7),
            sum(1 for c in counts if 8 <= c <= 15),
            sum(1 for c in counts if c >= 16),
        ]
        top = sum(counts[: ceil_div(len(counts), 10)])
        leader_shares = sum(1 for s in of_month if s.leader)
        leaders = len({s.advocate for s in of_month if s.leader})
        activity.append((m, len(of_month), len(per), buckets, top, leader_shares, leaders))
    return {"cohorts": cohorts, "activity": activity}


def actual_health(got: pb.ProgramHealth) -> dict[str, Any]:
    cohorts = []
    for c in got.cohorts:
        median = c.median_days_to_first_share if c.HasField("median_days_to_first_share") else None
        p90 = c.p90_days_to_first_share if c.HasField("p90_days_to_first_share") else None
        assert list(c.retention) == pytest.approx([n / c.enrolled for n in c.retained])
        cohorts.append((c.month, c.enrolled, c.shared, median, p90, list(c.retained)))
    activity = []
    for a in got.activity:
        top = round(a.top_decile_share * a.shares)
        assert a.top_decile_share == pytest.approx(top / a.shares)
        assert a.leader_share_of_shares == pytest.approx(a.leader_shares / a.shares)
        assert a.leader_share_of_active == pytest.approx(a.active_leaders / a.active_advocates)
        activity.append(
            (
                a.month,
                a.shares,
                a.active_advocates,
                list(a.advocates_per_bucket),
                top,
                a.leader_shares,
                a.active_leaders,
            )
        )
    return {"cohorts": cohorts, "activity": activity}


def reference_training(h: History, team: str) -> list[tuple[str, str, str, int, int, int]]:
    now = latest(h)
    first: dict[tuple[str, str], HCompletion] = {}
    for c in sorted(h.completions, key=lambda c: c.at):
        first.setdefault((c.advocate, c.lesson), c)
    enrolled_now = {a for a, v in now.items() if any(end is None for _, end in v.periods)}
    lessons = sorted({lesson for _, lesson in first})
    teams = [team] if team else ["", *sorted({c.team for c in first.values()} | {now[a].team for a in enrolled_now})]
    rows = []
    for lesson in lessons:
        for t in teams:
            completions = sum(1 for (_, les), c in first.items() if les == lesson and (not t or c.team == t))
            base = {a for a in enrolled_now if not t or now[a].team == t}
            completers = sum(1 for a in base if (a, lesson) in first)
            rows.append((lesson, LESSONS[lesson], t, completions, completers, len(base)))
    return rows


def actual_training(got: pb.TrainingStats) -> list[tuple[str, str, str, int, int, int]]:
    rows = []
    for r in got.lessons:
        if r.enrolled:
            assert r.completion_rate == pytest.approx(r.completers_enrolled / r.enrolled)
        else:
            assert not r.HasField("completion_rate")
        rows.append((r.lesson_id, r.lesson_title, r.team, r.completions, r.completers_enrolled, r.enrolled))
    return rows


def health_request(team: str = "") -> pb.GetProgramHealthRequest:
    return pb.GetProgramHealthRequest(team=team, from_month=FIRST, to_month=LAST)


def mismatches(stub: analytics_pb2_grpc.AnalyticsServiceStub, h: History) -> list[str]:
    problems = []
    for team in ["", *TEAMS]:
        got = actual_health(stub.GetProgramHealth(health_request(team), timeout=30))
        expected = reference_health(h, team)
        if got != expected:
            problems.append(f"health {team or 'programme'}: got {got}\nexpected {expected}")
        rows = actual_training(stub.GetTrainingStats(pb.GetTrainingStatsRequest(team=team), timeout=30))
        if rows != reference_training(h, team):
            problems.append(f"training {team or 'programme'}: got {rows}\nexpected {reference_training(h, team)}")
    return problems


def wait_for_reference(stub: analytics_pb2_grpc.AnalyticsServiceStub, h: History, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    expected = reference_health(h, "")
    while time.monotonic() < deadline:
        try:
            if actual_health(stub.GetProgramHealth(health_request(), timeout=10)) == expected:
                break
        except grpc.RpcError:
            pass  # the worker may still be starting
        time.sleep(0.5)
    problems = mismatches(stub, h)
    assert not problems, "\n".join(problems)


def check_history(h: History) -> None:
    """The history exercises what the figures must get right."""
    now = latest(h)
    assert len({month(min(p[0] for p in v.periods)) for v in now.values()}) >= 5  # cohorts
    assert any(s.team != now[s.advocate].team for s in h.shares)  # team at share time vs latest
    assert any(end is not None for v in now.values() for _, end in v.periods)  # leavers
    assert any(s.leader for s in h.shares) and max(Counter(s.advocate for s in h.shares).values()) >= 16
    assert len(h.completions) > len({(c.advocate, c.lesson) for c in h.completions})  # completed twice
    assert len(h.produced) > len({e.event_id for _, _, e in h.produced})  # duplicates


def check_csv_and_errors(stub: analytics_pb2_grpc.AnalyticsServiceStub, h: History) -> None:
    export = stub.ExportHealthCsv(health_request("red"), timeout=30)
    assert export.filename == f"advocacy-health-red-{FIRST}-{LAST}.csv"
    rows = list(csv.reader(io.StringIO(export.csv)))
    expected = reference_health(h, "red")
    cohort_rows = [r for r in rows if r[0] == "cohort"]
    assert [(r[2], int(r[3]), int(r[4])) for r in cohort_rows] == [c[:3] for c in expected["cohorts"]]
    activity_rows = [r for r in rows if r[0] == "activity"]
    assert [(r[2], int(r[3]), int(r[4])) for r in activity_rows] == [a[:3] for a in expected["activity"]]
    for bad, name in (
        (pb.GetProgramHealthRequest(from_month="2025-13"), "from_month"),
        (pb.GetProgramHealthRequest(to_month="March"), "to_month"),
        (pb.GetProgramHealthRequest(from_month="2025-05", to_month="2025-04"), "from_month"),
        (pb.GetProgramHealthRequest(from_month="2015-01", to_month="2025-04"), "from_month"),
        (pb.GetProgramHealthRequest(team="x" * 500), "team"),
    ):
        with pytest.raises(grpc.RpcError) as err:
            stub.GetProgramHealth(bad, timeout=30)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and name in err.value.details()
    # Unset months: the twelve months up to the current one.
    default = stub.GetProgramHealth(pb.GetProgramHealthRequest(), timeout=30)
    assert default.to_month == datetime.now(UTC).strftime("%Y-%m") and default.from_month < default.to_month


def check_cli(platform: Platform, h: History) -> None:
    """`advocacy analytics health|training|health-csv` against the worker, as an admin would run it."""
    runner = CliRunner(env={"COLUMNS": "250"})  # tables wide enough not to fold their titles
    base = ["--analytics-addr", platform.address("analytics"), "--token", platform.token(ADMIN, "tests")]
    got = runner.invoke(
        cli.app, [*base, "--json", "analytics", "health", "--team", "red", "--from", FIRST, "--to", LAST]
    )
    assert got.exit_code == 0, got.output
    answer = json_format.Parse(got.output, pb.ProgramHealth(), ignore_unknown_fields=True)
    assert actual_health(answer) == reference_health(h, "red")
    got = runner.invoke(cli.app, [*base, "--json", "analytics", "training"])
    assert got.exit_code == 0, got.output
    assert actual_training(json_format.Parse(got.output, pb.TrainingStats())) == reference_training(h, "")
    got = runner.invoke(cli.app, [*base, "analytics", "health", "--from", FIRST, "--to", LAST])
    assert got.exit_code == 0 and "cohorts 2025-01..2025-09" in got.output and "top 10 %" in got.output
    got = runner.invoke(cli.app, [*base, "analytics", "health-csv", "--from", FIRST, "--to", LAST])
    assert got.exit_code == 0 and got.output.startswith("figure,team,month,enrolled")
    got = runner.invoke(cli.app, [*base, "analytics", "health", "--from", "2025-1"])
    assert got.exit_code == 1 and "from_month" in got.output


def produce_poison(isolated: Isolated) -> None:
    """Per topic one record that does not decode and one that decodes but is unusable."""
    producer = KafkaProducer(bootstrap_servers=isolated.stack.kafka_bootstrap, acks="all")
    unusable = {
        "lesson-completed": LessonCompleted(event_id="no-lesson", occurred_at=ts(datetime(YEAR, 3, 1, tzinfo=UTC))),
        "share-made": spb.ShareMade(occurred_at=ts(datetime(YEAR, 3, 1, tzinfo=UTC))),
    }
    for topic, message in unusable.items():
        producer.send(isolated.prefix + topic, key=b"adv1", value=b"\xff\xff not protobuf")
        producer.send(isolated.prefix + topic, key=b"adv1", value=message.SerializeToString())
    producer.flush(60)
    producer.close()


def dead_letters(isolated: Isolated, topic: str) -> list[str]:
    consumer = KafkaConsumer(
        isolated.prefix + topic + ".dlq",
        bootstrap_servers=isolated.stack.kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
    )
    reasons = sorted(dict(m.headers)["dlq.reason"].decode() for m in consumer)
    consumer.close()
    return reasons


def test_health_figures_match_the_reference(isolated):
    h = generate(seed=23)
    check_history(h)
    platform = analytics_worker(isolated)
    produce(isolated, h.produced)
    produce_poison(isolated)
    platform.start_service("analytics")
    try:
        platform.wait_serving("analytics", timeout=120)
        with platform.channel("analytics") as channel:
            stub = analytics_pb2_grpc.AnalyticsServiceStub(channel)
            wait_for_reference(stub, h)
            check_csv_and_errors(stub, h)
        check_cli(platform, h)
        # Each poison record once in its DLQ: share-made's by analytics-facts only, not by both agents.
        assert dead_letters(isolated, "lesson-completed") == ["invalid", "undecodable_value"]
        assert dead_letters(isolated, "share-made") == ["invalid", "undecodable_value"]
    finally:
        assert platform.stop_service("analytics") == 0


KILL_ATTEMPTS = 3


def kill_mid_stream(isolated: Isolated, h: History) -> Platform | None:
    """Starts a worker on the whole history (already in Kafka) and SIGKILLs it once some but not all
    health documents show the shares; None when it was done before a poll saw it part-way."""
    final = len({s.event_id for s in h.shares})
    platform = analytics_worker(isolated)
    platform.start_service("analytics")

    def counted(docs: Any) -> int:  # the programme's shares in the activity documents so far
        activity = [d for d in docs.find({}) if d["_id"].startswith("activity|")]
        return sum(e["n"] for d in activity for e in d["e"] if e["k"] == '["shares","p"]')

    try:
        with MongoClient(isolated.stack.mongo_url) as mongo:
            docs = mongo[isolated.database]["health"]
            deadline = time.monotonic() + 120
            while not 0 < (seen := counted(docs)) < final:
                if seen >= final:
                    platform.stop_service("analytics")
                    return None
                assert time.monotonic() < deadline, "the worker wrote no health document in 120 s"
                time.sleep(0.01)
    except BaseException:
        platform.stop_service("analytics")
        raise
    assert platform.stop_service("analytics", sig=signal.SIGKILL) == -signal.SIGKILL
    return platform


def test_worker_killed_mid_stream_ends_with_the_same_figures(isolated):
    h = generate(seed=29, advocates=120)
    check_history(h)
    for attempt in range(KILL_ATTEMPTS):
        if attempt:
            isolated = make_isolated(isolated.stack)
        produce(isolated, h.produced)
        platform = kill_mid_stream(isolated, h)
        if platform is not None:
            break
    else:
        pytest.fail(f"the worker processed the whole history before a poll saw it part-way, {KILL_ATTEMPTS} times")
    platform.start_service("analytics")
    try:
        platform.wait_serving("analytics", timeout=120)
        with platform.channel("analytics") as channel:
            wait_for_reference(analytics_pb2_grpc.AnalyticsServiceStub(channel), h)
    finally:
        platform.stop_service("analytics")
