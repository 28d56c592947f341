"""Programme health and training: the per-advocate state, contributions and figures (pure), and
the health processor over in-memory fakes, including a batch cut short between its table writes."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from services.analytics.app.health import HealthEvent, HealthProcessor, HealthQueries
from services.analytics.domain import health as h
from services.analytics.domain.health_figures import (
    BUCKET_LABELS,
    health_csv,
    months_between,
    nearest_rank,
    program_health,
    top_share,
    training,
)


def at(month: int, day: int = 1, year: int = 2026) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)


def enrol(version: int, team: str, first: datetime | None, now: bool = True, leader: bool = False) -> h.Enrolment:
    return h.Enrolment(f"e{version}", version, team, leader, first, now)


def test_nearest_rank_and_top_share() -> None:
    assert nearest_rank({}, 50) is None
    assert nearest_rank({3: 1}, 90) == 3
    assert nearest_rank({1: 1, 5: 1}, 50) == 1  # rank ceil(0.5 * 2) = 1
    assert nearest_rank({1: 5, 2: 4, 30: 1}, 90) == 2  # rank 9 of 10
    assert nearest_rank({1: 5, 2: 4, 30: 1}, 91) == 30
    # 70 values: rank 63 exactly (0.9 * 70 is 63.00000000000001 in floats).
    assert nearest_rank({1: 63, 2: 7}, 90) == 1
    # 30 advocates: the top 3 (0.1 * 30 is 3.0000000000000004 in floats).
    assert top_share({5: 3, 1: 27}) == pytest.approx(15 / 42)
    # 20 advocates: top 2 (ceil 10 %) made 16 + 8 of 24 + 18 = 42 shares.
    assert top_share({16: 1, 8: 1, 1: 18}) == pytest.approx(24 / 42)
    # 3 advocates: ceil(0.3) = 1 advocate.
    assert top_share({2: 3}) == pytest.approx(2 / 6)


def test_months() -> None:
    assert months_between("2025-11", "2026-02") == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert h.months_after("2025-11", "2026-02") == 3
    assert h.month_of(datetime(2026, 1, 31, 23, 59, tzinfo=UTC)) == "2026-01"


def test_redelivered_and_duplicate_events_change_nothing() -> None:
    state = h.new_state()
    share = h.Share("s1", at(2), "sales", False)
    assert h.apply(state, "share-made:0", 5, share)
    once = copy.deepcopy(h.contribution(state))
    assert not h.apply(state, "share-made:0", 5, share)  # the same record again
    assert not h.apply(state, "share-made:0", 9, share)  # another record of the same event
    assert h.contribution(state) == once
    assert h.apply(state, "advocate-changed:0", 2, enrol(3, "sales", at(1)))
    assert not h.apply(state, "advocate-changed:0", 2, enrol(3, "x", at(1)))  # the same offset again
    assert h.apply(state, "advocate-changed:0", 3, enrol(2, "old", at(1)))  # older version: ignored
    assert state["team"] == "sales"


def test_order_does_not_matter() -> None:
    events: list[tuple[str, int, Any]] = [
        ("share-made:0", 1, h.Share("s1", at(3, 10), "sales", True)),
        ("share-made:0", 2, h.Share("s2", at(5, 2), "ops", False)),
        ("lesson-completed:0", 1, h.Completion("c1", at(3, 4), "L1", "sales", "Intro")),
        ("advocate-changed:0", 1, enrol(1, "sales", at(2, 20))),
        ("advocate-changed:0", 2, enrol(2, "ops", at(2, 20))),
    ]
    forward, backward = h.new_state(), h.new_state()
    for source, offset, event in events:
        h.apply(forward, source, offset, event)
    for source, offset, event in sorted(events, key=lambda e: (e[0], -e[1]), reverse=True):
        h.apply(backward, source, offset, event)
    assert h.contribution(forward) == h.contribution(backward)


def figures(states: list[dict[str, Any]]) -> dict[str, h.Counters]:
    out: dict[str, h.Counters] = {}
    for state in states:
        for record, counters in h.contribution(state).items():
            h.add_counters(out.setdefault(record, {}), counters)
    return out


def test_cohort_retention_time_to_first_share_and_activity() -> None:
    a, b, c = h.new_state(), h.new_state(), h.new_state()
    h.apply(a, "ac:0", 1, enrol(1, "sales", at(1, 1)))
    h.apply(a, "sm:0", 1, h.Share("a1", at(1, 11), "sales", False))  # 10 days after enrolment
    h.apply(a, "sm:0", 2, h.Share("a2", at(3, 5), "sales", False))
    h.apply(b, "ac:0", 1, enrol(1, "sales", at(1, 20), leader=True))
    for n in range(5):
        h.apply(b, "sm:0", 10 + n, h.Share(f"b{n}", at(3, 6), "sales", True))
    h.apply(c, "ac:0", 1, enrol(1, "ops", at(2, 3)))  # never shares
    merged = figures([a, b, c])
    cohorts = {m[7:]: v for m, v in merged.items() if m.startswith("cohort|")}
    activity = {m[9:]: v for m, v in merged.items() if m.startswith("activity|")}
    report = program_health("", "2026-01", "2026-03", cohorts, activity)
    jan, feb = report.cohorts
    assert (jan.month, jan.enrolled, jan.shared) == ("2026-01", 2, 2)
    # a: 10 days; b: from Jan 20 to Mar 6 = 45 days.
    assert (jan.median_days, jan.p90_days) == (10, 45)
    assert jan.retained == (1, 0, 2)
    assert jan.retention == (0.5, 0.0, 1.0)
    assert (feb.enrolled, feb.shared, feb.median_days, feb.retained) == (1, 0, None, (0, 0))
    jan_act, mar_act = report.activity
    assert (jan_act.shares, jan_act.active, jan_act.buckets) == (1, 1, (1, 0, 0, 0, 0))
    assert (mar_act.shares, mar_act.active, mar_act.buckets) == (6, 2, (1, 0, 1, 0, 0))
    assert mar_act.top_decile_share == pytest.approx(5 / 6)
    assert (mar_act.leader_shares, mar_act.leaders_active) == (5, 1)
    assert mar_act.leader_share_of_shares == pytest.approx(5 / 6)
    assert mar_act.leader_share_of_active == 0.5
    ops = program_health("ops", "2026-01", "2026-03", cohorts, activity)
    assert [(r.month, r.enrolled) for r in ops.cohorts] == [("2026-02", 1)] and ops.activity == []
    text = health_csv(report)
    assert text.splitlines()[0].startswith("figure,team,month,enrolled,shared")
    assert "cohort,,2026-01,2,2,10,45,0.500000,0.000000,1.000000" in text
    assert len(BUCKET_LABELS) == 5 and BUCKET_LABELS[-1] == "16+"


def test_training_rates_follow_the_latest_team_and_enrolment() -> None:
    a, b, c = h.new_state(), h.new_state(), h.new_state()
    h.apply(a, "lc:0", 1, h.Completion("c1", at(2), "L1", "sales", "Intro"))
    h.apply(a, "ac:0", 1, enrol(1, "ops", at(1)))  # moved to ops after completing
    h.apply(b, "ac:0", 1, enrol(1, "ops", at(1)))
    h.apply(c, "ac:0", 1, enrol(1, "ops", at(1), now=False))  # left: in no denominator
    h.apply(c, "lc:0", 1, h.Completion("c2", at(2), "L1", "ops", "Intro"))
    rows = {(r.lesson_id, r.team): r for r in training(figures([a, b, c])["training"], {"L1": "Intro"}, None)}
    assert set(rows) == {("L1", ""), ("L1", "ops"), ("L1", "sales")}
    ops, sales, program = rows["L1", "ops"], rows["L1", "sales"], rows["L1", ""]
    assert (ops.completions, ops.completers_enrolled, ops.enrolled, ops.completion_rate) == (1, 1, 2, 0.5)
    assert (sales.completions, sales.enrolled, sales.completion_rate) == (1, 0, None)
    assert (program.completions, program.completers_enrolled, program.enrolled) == (2, 1, 2)
    assert program.title == "Intro"


class MemoryTable:
    """The health table: a dict; `crash_after` puts cut a batch short (the rest never stored)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.crash_after: int | None = None

    def load(self, record_id: str, anchor: Any) -> dict[str, Any] | None:
        return copy.deepcopy(self.data.get(record_id))

    def put(self, records: Mapping[str, Any], anchor: Any) -> None:
        for record_id, value in records.items():
            if self.crash_after is not None:
                if self.crash_after == 0:
                    raise RuntimeError("killed")
                self.crash_after -= 1
            self.data[record_id] = copy.deepcopy(value)

    async def durable(self) -> None:
        pass


class MemoryDocuments:
    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    async def write(self, records: Mapping[str, Mapping[str, Any]]) -> None:
        self.docs.update(copy.deepcopy(dict(records)))

    async def read(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {i: copy.deepcopy(self.docs[i]) for i in ids if i in self.docs}


def batch() -> list[HealthEvent]:
    out = []
    for n in range(6):
        advocate = f"adv{n % 3}"
        out.append(HealthEvent("advocate-changed", n % 2, n, advocate, enrol(1, "sales", at(1, 1 + n))))
        out.append(HealthEvent("share-made", n % 2, n, advocate, h.Share(f"s{n}", at(2, 1 + n), "sales", n == 0)))
    out.append(HealthEvent("lesson-completed", 0, 0, "adv0", h.Completion("c", at(2), "L1", "sales", "Intro")))
    return out


async def answers(documents: MemoryDocuments) -> tuple[Any, Any]:
    queries = HealthQueries(lambda: documents, 2)
    return await queries.program_health("", "2026-01", "2026-03"), await queries.training("")


@pytest.mark.parametrize("crash_after", [0, 1, 2, 3, 5, 8])
async def test_a_batch_cut_short_and_redelivered_counts_once(crash_after: int) -> None:
    reference = MemoryDocuments()
    await HealthProcessor(lambda: MemoryTable(), lambda: reference).process(batch())
    table, documents = MemoryTable(), MemoryDocuments()
    processor = HealthProcessor(lambda: table, lambda: documents)
    table.crash_after = crash_after
    with pytest.raises(RuntimeError):
        await processor.process(batch())
    table.crash_after = None
    await processor.process(batch())  # the redelivery
    await processor.process(batch()[:3])  # and a later one of part of it: nothing new
    assert await answers(documents) == await answers(reference)
    health, lessons = await answers(reference)
    assert [c.enrolled for c in health.cohorts] == [3]
    assert [a.shares for a in health.activity] == [6]
    assert lessons[0].completions == 1
