"""Programme health and training figures from merged aggregate counters (`domain/health.py`). Pure.

Definitions (README, "Programme health"): percentiles are nearest-rank (the value at rank
ceil(q x n) of the n values sorted ascending); the top decile is the ceil(10 %) of active advocates
with the most shares; a ratio whose denominator is 0 is None.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.analytics.domain.health import PROGRAM, Counters, key, months_after, team_scope

# Shares per active advocate in a month: [low, high] (None: no upper bound).
BUCKETS: tuple[tuple[int, int | None], ...] = ((1, 1), (2, 3), (4, 7), (8, 15), (16, None))
BUCKET_LABELS = tuple(f"{lo}" if lo == hi else (f"{lo}+" if hi is None else f"{lo}-{hi}") for lo, hi in BUCKETS)
TOP_PERCENT = 10


def ceil_percent(percent: int, n: int) -> int:
    """ceil(percent % of n) in integers (0.1 * 30 is 3.0000000000000004 in floats)."""
    return -(-percent * n // 100)


def scope_of(team: str | None) -> str:
    return team_scope(team) if team else PROGRAM


def ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def add_month(month: str, n: int) -> str:
    index = int(month[:4]) * 12 + int(month[5:7]) - 1 + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months_between(first: str, last: str) -> list[str]:
    return [add_month(first, n) for n in range(months_after(first, last) + 1)]


def nearest_rank(histogram: Mapping[int, int], percent: int) -> int | None:
    """The value at rank ceil(percent % of n) (1-based) of the n values sorted ascending."""
    n = sum(histogram.values())
    if n == 0:
        return None
    rank, seen = max(1, ceil_percent(percent, n)), 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    raise AssertionError("unreachable")


def top_share(histogram: Mapping[int, int], percent: int = TOP_PERCENT) -> float | None:
    """Share of all shares made by the ceil(percent %) of advocates with the most shares."""
    advocates = sum(histogram.values())
    total = sum(value * n for value, n in histogram.items())
    if not advocates or not total:
        return None
    left, top = max(1, ceil_percent(percent, advocates)), 0
    for value in sorted(histogram, reverse=True):
        take = min(left, histogram[value])
        top += take * value
        left -= take
        if not left:
            break
    return top / total


def _entries(counters: Counters, name: str, scope: str) -> dict[tuple[Any, ...], int]:
    """Entries `name` of `scope`: the key parts after the scope -> count."""
    out: dict[tuple[Any, ...], int] = {}
    for k, n in counters.items():
        parts = json.loads(k)
        if parts[0] == name and parts[1] == scope:
            out[tuple(parts[2:])] = n
    return out


@dataclass(frozen=True)
class CohortRow:
    month: str
    enrolled: int
    shared: int
    median_days: int | None
    p90_days: int | None
    # retained[k]: advocates of the cohort who shared in month + k, for every month up to the range's end.
    retained: tuple[int, ...]

    @property
    def retention(self) -> tuple[float | None, ...]:
        return tuple(ratio(n, self.enrolled) for n in self.retained)


@dataclass(frozen=True)
class ActivityRow:
    month: str
    shares: int
    active: int
    buckets: tuple[int, ...]  # active advocates per BUCKETS
    top_decile_share: float | None
    leader_shares: int
    leaders_active: int

    @property
    def leader_share_of_shares(self) -> float | None:
        return ratio(self.leader_shares, self.shares)

    @property
    def leader_share_of_active(self) -> float | None:
        return ratio(self.leaders_active, self.active)


def cohort_row(month: str, counters: Counters, scope: str, last: str) -> CohortRow | None:
    enrolled = sum(_entries(counters, "enrolled", scope).values())
    if not enrolled:
        return None
    days = {int(k[0]): n for k, n in _entries(counters, "days_to_first_share", scope).items()}
    retained = {int(k[0]): n for k, n in _entries(counters, "retained", scope).items()}
    return CohortRow(
        month=month,
        enrolled=enrolled,
        shared=sum(_entries(counters, "shared", scope).values()),
        median_days=nearest_rank(days, 50),
        p90_days=nearest_rank(days, 90),
        retained=tuple(retained.get(k, 0) for k in range(months_after(month, last) + 1)),
    )


def activity_row(month: str, counters: Counters, scope: str) -> ActivityRow | None:
    per_advocate = {int(k[0]): n for k, n in _entries(counters, "per_advocate", scope).items()}
    active = sum(per_advocate.values())
    if not active:
        return None
    return ActivityRow(
        month=month,
        shares=sum(_entries(counters, "shares", scope).values()),
        active=active,
        buckets=tuple(
            sum(n for v, n in per_advocate.items() if v >= lo and (hi is None or v <= hi)) for lo, hi in BUCKETS
        ),
        top_decile_share=top_share(per_advocate),
        leader_shares=sum(_entries(counters, "leader_shares", scope).values()),
        leaders_active=sum(_entries(counters, "leaders_active", scope).values()),
    )


@dataclass(frozen=True)
class ProgramHealth:
    team: str
    first: str
    last: str
    cohorts: list[CohortRow] = field(default_factory=list)
    activity: list[ActivityRow] = field(default_factory=list)


def program_health(
    team: str, first: str, last: str, cohorts: Mapping[str, Counters], activity: Mapping[str, Counters]
) -> ProgramHealth:
    """`cohorts` / `activity`: month -> the month's counters merged over the partitions."""
    scope = scope_of(team)
    out = ProgramHealth(team, first, last)
    for month in months_between(first, last):
        c = cohort_row(month, cohorts.get(month, {}), scope, last)
        if c is not None:
            out.cohorts.append(c)
        a = activity_row(month, activity.get(month, {}), scope)
        if a is not None:
            out.activity.append(a)
    return out


@dataclass(frozen=True)
class LessonRow:
    lesson_id: str
    title: str
    team: str  # "" = the whole programme
    completions: int  # first completions, counted for the team at completion
    completers_enrolled: int  # enrolled now, of the team now, who completed the lesson
    enrolled: int  # enrolled now, of the team now

    @property
    def completion_rate(self) -> float | None:
        return ratio(self.completers_enrolled, self.enrolled)


def training(counters: Counters, titles: Mapping[str, str], team: str | None) -> list[LessonRow]:
    """One row per lesson completed by anyone and per scope: the team asked for, or the programme
    and every team seen (completions or enrolled advocates) when none is."""
    parsed = [(json.loads(k), n) for k, n in counters.items()]
    lessons = sorted({p[1] for p, _ in parsed if p[0] == "completions"})
    if team:
        teams = [team]
    else:
        seen = {p[-1] for p, _ in parsed if p[-1] != PROGRAM}
        teams = ["", *sorted(s.removeprefix("t:") for s in seen)]
    rows = []
    for lesson_id in lessons:
        for t in teams:
            scope = scope_of(t)
            rows.append(
                LessonRow(
                    lesson_id=lesson_id,
                    title=titles.get(lesson_id, ""),
                    team=t,
                    completions=counters.get(key("completions", lesson_id, scope), 0),
                    completers_enrolled=counters.get(key("completers", lesson_id, scope), 0),
                    enrolled=counters.get(key("enrolled", scope), 0),
                )
            )
    return rows


def _cell(value: float | int | None) -> str:
    if value is None:
        return ""
    return f"{value:.6f}" if isinstance(value, float) else str(value)


def health_csv(health: ProgramHealth, header: bool = True) -> str:
    """One CSV of both tables: a `figure` column tells cohort rows from activity rows."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    longest = max((len(c.retained) for c in health.cohorts), default=0)
    if header:
        w.writerow(
            ["figure", "team", "month", "enrolled", "shared", "median_days_to_first_share", "p90_days_to_first_share"]
            + [f"retention_m{k}" for k in range(longest)]
        )
    for c in health.cohorts:
        cells: Sequence[float | int | None] = [c.enrolled, c.shared, c.median_days, c.p90_days, *c.retention]
        w.writerow(["cohort", health.team, c.month, *map(_cell, cells)])
    if header:
        w.writerow(
            ["figure", "team", "month", "shares", "active_advocates"]
            + [f"advocates_{label}_shares" for label in BUCKET_LABELS]
            + ["top_decile_share", "leader_shares", "active_leaders"]
            + ["leader_share_of_shares", "leader_share_of_active"]
        )
    for a in health.activity:
        cells = [
            a.shares,
            a.active,
            *a.buckets,
            a.top_decile_share,
            a.leader_shares,
            a.leaders_active,
            a.leader_share_of_shares,
            a.leader_share_of_active,
        ]
        w.writerow(["activity", health.team, a.month, *map(_cell, cells)])
    return buf.getvalue()
