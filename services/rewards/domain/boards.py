"""Leaderboard periods, fair team ranking and badges: pure functions over point totals.

Periods are calendar periods of the advocate's local day (the `local_day` every award carries), so
a day's capped total never straddles a week or month boundary.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

WEEK, MONTH, QUARTER, ALL_TIME = "week", "month", "quarter", "all_time"


def period_bounds(period: str, at: date) -> tuple[str, str] | None:
    """[first, last] ISO days of the period containing `at`; None for all-time."""
    if period == ALL_TIME:
        return None
    if period == WEEK:
        start = at - timedelta(days=at.weekday())
        return start.isoformat(), (start + timedelta(days=6)).isoformat()
    if period == MONTH:
        start = at.replace(day=1)
    elif period == QUARTER:
        start = at.replace(month=3 * ((at.month - 1) // 3) + 1, day=1)
    else:
        raise ValueError(f"period: unknown {period!r}")
    months = 1 if period == MONTH else 3
    y, m = divmod(start.month - 1 + months, 12)
    end = date(start.year + y, m + 1, 1) - timedelta(days=1)
    return start.isoformat(), end.isoformat()


@dataclass(frozen=True)
class Row:
    key: str
    points: int
    advocates: int = 1
    score: float = 0.0


def rank(totals: dict[str, int]) -> list[Row]:
    """Highest points first; ties broken by key so the order is stable."""
    return [Row(k, p, 1, float(p)) for k, p in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))]


def rank_teams(points_by_team_advocate: dict[tuple[str, str], int], per_active_advocate: bool) -> list[Row]:
    """Team totals; with `per_active_advocate`, ranked by points per advocate who earned in the period."""
    points: dict[str, int] = defaultdict(int)
    active: dict[str, int] = defaultdict(int)
    for (team, _advocate), p in points_by_team_advocate.items():
        points[team] += p
        if p > 0:
            active[team] += 1
    return rank_team_sums(points, active, per_active_advocate)


def rank_team_sums(points: dict[str, int], active: dict[str, int], per_active_advocate: bool) -> list[Row]:
    """Teams by points, or by points per active advocate (`active`: advocates with points > 0)."""
    active = defaultdict(int, active)
    rows = [
        Row(t, points[t], active[t], points[t] / active[t] if per_active_advocate and active[t] else float(points[t]))
        for t in points
    ]
    return sorted(rows, key=lambda r: (-r.score, -r.points, r.key))


@dataclass(frozen=True)
class BadgeFacts:
    shares: int
    clicks: int
    longest_run: int  # the longest run of consecutive local days with a share
    leader: bool
    max_month_shares: int  # the most shares in one calendar month
    monthly_rank: int | None  # rank on this month's global board, 1-based


FIRST_SHARE_BADGE = "first_share"
TEN_SHARES = "ten_shares"
HUNDRED_CLICKS = "hundred_clicks"
SEVEN_DAY_STREAK = "seven_day_streak"
TOP_TEN_OF_MONTH = "top_ten_of_month"
LEADER_VOICE = "leader_voice"


def longest_run(days: list[str]) -> int:
    best = run = 0
    prev: date | None = None
    for d in sorted({date.fromisoformat(x) for x in days}):
        run = run + 1 if prev is not None and d - prev == timedelta(days=1) else 1
        best = max(best, run)
        prev = d
    return best


def badges(f: BadgeFacts) -> list[str]:
    earned = []
    if f.shares >= 1:
        earned.append(FIRST_SHARE_BADGE)
    if f.shares >= 10:
        earned.append(TEN_SHARES)
    if f.clicks >= 100:
        earned.append(HUNDRED_CLICKS)
    if f.longest_run >= 7:
        earned.append(SEVEN_DAY_STREAK)
    if f.monthly_rank is not None and f.monthly_rank <= 10:
        earned.append(TOP_TEN_OF_MONTH)
    if f.leader and f.max_month_shares >= 5:
        earned.append(LEADER_VOICE)
    return earned
