"""Leaderboard periods and fair team ranking: pure functions over point totals (badges: badges.py).

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
