"""Leaderboards as maintained rollups, per partition of the advocates (pure).

Each partition's owner keeps, for every board and period key its advocates have points in, the top
TOP_N advocates (global, team, leaders, campaign) and per team the points of its advocates (teams,
teams per active advocate). Values are SET from the advocates' state totals, never added, so
applying an advocate twice changes nothing. An advocate's period total only grows, so a top-N is
exact: one that fell out can only come back by growing, and then it is offered again.

A board's id is "<board>:<argument>:<period key>"; its document of one partition appends
":<partition>". A read merges at most one document per partition.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from services.rewards.domain.boards import Row, rank_team_sums
from services.rewards.domain.rules import AdvocateState

TOP_N = 500
GLOBAL, TEAM, LEADERS, CAMPAIGN, TEAMS = "global", "team", "leaders", "campaign", "teams"


def board_id(board: str, argument: str, period_key: str) -> str:
    return f"{board}:{argument}:{period_key}"


def _order(key: str, points: int) -> tuple[int, str]:
    return (-points, key)


@dataclass
class TopN:
    rows: dict[str, int] = field(default_factory=dict)
    size: int = TOP_N
    _last: tuple[int, str] | None = None  # the lowest row's order while full (cached)

    def put(self, key: str, points: int) -> bool:
        """Sets `key`'s points; False when the board did not change."""
        if self.rows.get(key) == points:
            return False
        if key in self.rows or len(self.rows) < self.size:
            self.rows[key] = points
            self._last = None
            return True
        last = self._last or max(_order(k, p) for k, p in self.rows.items())
        if _order(key, points) >= last:
            self._last = last
            return False
        del self.rows[last[1]]
        self.rows[key] = points
        self._last = None
        return True


@dataclass
class TeamPoints:
    """Per team, the points of each of the partition's advocates who earned in the period."""

    teams: dict[str, dict[str, int]] = field(default_factory=dict)

    def put(self, team: str, advocate_id: str, points: int) -> bool:
        members = self.teams.setdefault(team, {})
        if members.get(advocate_id) == points:
            return False
        members[advocate_id] = points
        return True

    def sums(self) -> list[dict]:
        """[{team, points, active advocates}, ...] (a document's value; FerretDB refuses nested arrays)."""
        return [
            {"t": t, "p": sum(m.values()), "a": sum(1 for p in m.values() if p > 0)}
            for t, m in sorted(self.teams.items())
        ]


@dataclass
class PartitionBoards:
    """The boards of one partition, and which changed since they were last materialised."""

    tops: dict[str, TopN] = field(default_factory=dict)
    teams: dict[str, TeamPoints] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)

    def _top(self, bid: str, key: str, points: int) -> None:
        if points > 0 and self.tops.setdefault(bid, TopN()).put(key, points):
            self.dirty.add(bid)

    def apply(self, advocate_id: str, state: AdvocateState, period_keys: Iterable[str] | None = None) -> None:
        """Sets the advocate's rows from its state: for `period_keys`, or for every period it has."""
        keys = set(state.totals) if period_keys is None else set(period_keys)
        for pk in keys:
            self._top(board_id(GLOBAL, "", pk), advocate_id, state.totals.get(pk, 0))
            self._top(board_id(LEADERS, "", pk), advocate_id, state.leader_totals.get(pk, 0))
        for composite, points in state.team_totals.items():
            team, pk = composite.split("|", 1)
            if pk in keys:
                self._top(board_id(TEAM, team, pk), advocate_id, points)
                bid = board_id(TEAMS, "", pk)
                if points > 0 and self.teams.setdefault(bid, TeamPoints()).put(team, advocate_id, points):
                    self.dirty.add(bid)
        for composite, points in state.campaign_totals.items():
            campaign, pk = composite.split("|", 1)
            if pk in keys:
                self._top(board_id(CAMPAIGN, campaign, pk), advocate_id, points)

    def all_ids(self) -> set[str]:
        return set(self.tops) | set(self.teams)

    def document(self, bid: str, partition: int) -> dict:
        doc: dict = {"_id": f"{bid}:{partition}"}
        if bid in self.teams:
            doc["teams"] = self.teams[bid].sums()
        else:  # (a board none of this partition's advocates is on: no rows)
            top = self.tops.get(bid)
            rows = top.rows.items() if top is not None else []
            doc["rows"] = [{"k": k, "p": p} for k, p in sorted(rows, key=lambda r: _order(*r))]
        return doc


def merge_rows(documents: Iterable[dict | None], limit: int = TOP_N) -> list[Row]:
    """One board from its partitions' documents (an advocate is in one partition only)."""
    rows = [(str(r["k"]), int(r["p"])) for d in documents if d for r in d.get("rows", [])]
    return [Row(k, p, 1, float(p)) for k, p in sorted(rows, key=lambda r: _order(*r))[:limit]]


def merge_teams(documents: Iterable[dict | None], per_active_advocate: bool) -> list[Row]:
    points: dict[str, int] = {}
    active: dict[str, int] = {}
    for d in documents:
        for row in (d or {}).get("teams", []):
            points[row["t"]] = points.get(row["t"], 0) + int(row["p"])
            active[row["t"]] = active.get(row["t"], 0) + int(row["a"])
    return rank_team_sums(points, active, per_active_advocate)
