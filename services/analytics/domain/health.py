"""Programme health and training state per advocate, and what each advocate adds to the figures. Pure.

The health worker keeps one state per advocate (`AdvocateHealth`, JSON-able) and per partition a
few aggregate records of counters. An advocate's *contribution* to the aggregates is a function of
their state alone (`contribution`), so applying an event is: old contribution out, new one in
(`delta`). The figures therefore do not depend on the order in which share-made, lesson-completed
and advocate-changed events of one advocate arrive, and re-applying an event that changes nothing
changes no aggregate.

Conventions (README, "Programme health"): months are calendar months in UTC of `occurred_at`
(shares, completions) or of the first enrolment's `enrolled_at` (cohorts); a share counts for the
team and leader flag of its snapshot (the advocate at share time), as the rollups do; cohort and
"enrolled now" figures group advocates by their latest team (as adoption does).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Scope keys of an aggregate entry: the whole programme or one team.
PROGRAM = "p"
# Event ids remembered per advocate, to drop a second Kafka record of an event already applied
# (an outbox re-publish): redeliveries of the same record are dropped by offset, without limit.
RECENT_EVENT_IDS = 256
SECONDS_PER_DAY = 86_400

Counters = dict[str, int]  # entry key (a JSON list) -> count


def team_scope(team: str) -> str:
    return f"t:{team}"


def scopes(team: str) -> tuple[str, str]:
    return (PROGRAM, team_scope(team))


def month_of(at: datetime) -> str:
    at = at.astimezone(UTC)
    return f"{at.year:04d}-{at.month:02d}"


def months_after(start: str, month: str) -> int:
    """Whole calendar months from `start` to `month` ("YYYY-MM"; negative when before)."""
    return (int(month[:4]) - int(start[:4])) * 12 + int(month[5:7]) - int(start[5:7])


def key(*parts: Any) -> str:
    return json.dumps(parts, separators=(",", ":"))


@dataclass(frozen=True)
class Share:
    event_id: str
    occurred_at: datetime
    team: str
    leader: bool


@dataclass(frozen=True)
class Completion:
    event_id: str
    occurred_at: datetime
    lesson_id: str
    team: str
    title: str


@dataclass(frozen=True)
class Enrolment:
    """An advocate-changed event: the advocate's latest state."""

    event_id: str
    version: int
    team: str
    leader: bool
    # Start of the first enrolment (None: never enrolled); whether a period is open now.
    first_enrolled_at: datetime | None
    enrolled_now: bool


def new_state() -> dict[str, Any]:
    return {"v": 0, "team": None, "enrolled_at": None, "now": False, "first_share": None, "activity": {}, "lessons": {}}


def _seen(state: dict[str, Any], source: str, offset: int, event_id: str) -> bool:
    """True when this record (or another record of this event, recently) was applied; else notes it."""
    offsets = state.setdefault("offsets", {})
    if offset <= offsets.get(source, -1) or event_id in state.setdefault("recent", []):
        return True
    offsets[source] = offset
    state["recent"] = (state["recent"] + [event_id])[-RECENT_EVENT_IDS:]
    return False


def apply(state: dict[str, Any], source: str, offset: int, event: Share | Completion | Enrolment) -> bool:
    """Applies one event (source = "topic:partition"); False when it was applied before."""
    if _seen(state, source, offset, event.event_id):
        return False
    if isinstance(event, Share):
        at = event.occurred_at.timestamp()
        teams = state["activity"].setdefault(month_of(event.occurred_at), {})
        counts = teams.setdefault(event.team, [0, 0])
        counts[0] += 1
        counts[1] += int(event.leader)
        if state["first_share"] is None or at < state["first_share"]:
            state["first_share"] = at
    elif isinstance(event, Completion):
        at = event.occurred_at.timestamp()
        first = state["lessons"].get(event.lesson_id)
        if first is None or at < first[0]:  # the first completion counts, with its team
            state["lessons"][event.lesson_id] = [at, event.team]
    elif event.version > state["v"]:  # an older state of the advocate changes nothing
        state["v"] = event.version
        state["team"] = event.team
        state["enrolled_at"] = event.first_enrolled_at.timestamp() if event.first_enrolled_at else None
        state["now"] = event.enrolled_now
    return True


def contribution(state: Mapping[str, Any]) -> dict[str, Counters]:
    """Record suffix ("cohort|M", "activity|M", "training") -> entry key -> count, of one advocate."""
    out: dict[str, Counters] = {}

    def add(record: str, entry: str, n: int = 1) -> None:
        counters = out.setdefault(record, {})
        counters[entry] = counters.get(entry, 0) + n

    _cohort(state, add)
    for month, teams in state["activity"].items():
        total = [sum(c[0] for c in teams.values()), sum(c[1] for c in teams.values())]
        for scope, (shares, leader_shares) in [(PROGRAM, total)] + [(team_scope(t), c) for t, c in teams.items()]:
            record = f"activity|{month}"
            add(record, key("shares", scope), shares)
            add(record, key("leader_shares", scope), leader_shares)
            add(record, key("active", scope))
            add(record, key("leaders_active", scope), int(leader_shares > 0))
            add(record, key("per_advocate", scope, shares))  # histogram: advocates with this many shares
    _training(state, add)
    return out


def _cohort(state: Mapping[str, Any], add: Any) -> None:
    if state["enrolled_at"] is None or state["team"] is None:
        return
    enrolled_at = datetime.fromtimestamp(state["enrolled_at"], UTC)
    cohort = month_of(enrolled_at)
    record = f"cohort|{cohort}"
    for scope in scopes(state["team"]):
        add(record, key("enrolled", scope))
        if state["first_share"] is not None:
            days = max(0, int((state["first_share"] - state["enrolled_at"]) // SECONDS_PER_DAY))
            add(record, key("shared", scope))
            add(record, key("days_to_first_share", scope, days))
        for month in state["activity"]:
            after = months_after(cohort, month)
            if after >= 0:
                add(record, key("retained", scope, after))


def _training(state: Mapping[str, Any], add: Any) -> None:
    for lesson_id, (_, team) in state["lessons"].items():
        for scope in scopes(team):
            add("training", key("completions", lesson_id, scope))
    if state["now"] and state["team"] is not None:
        for scope in scopes(state["team"]):
            add("training", key("enrolled", scope))
            for lesson_id in state["lessons"]:
                add("training", key("completers", lesson_id, scope))


def delta(before: Mapping[str, Counters], after: Mapping[str, Counters]) -> dict[str, Counters]:
    """after - before, per record and entry, without zero entries."""
    out: dict[str, Counters] = {}
    for record in set(before) | set(after):
        old, new = before.get(record, {}), after.get(record, {})
        changed = {k: new.get(k, 0) - old.get(k, 0) for k in set(old) | set(new)}
        changed = {k: n for k, n in changed.items() if n}
        if changed:
            out[record] = changed
    return out


def add_counters(counters: Counters, changes: Mapping[str, int]) -> None:
    """Adds `changes` in place; entries that reach 0 are removed (records keep only what counts)."""
    for k, n in changes.items():
        total = counters.get(k, 0) + n
        if total:
            counters[k] = total
        else:
            counters.pop(k, None)


def merge(parts: Iterable[Mapping[str, int]]) -> Counters:
    out: Counters = {}
    for part in parts:
        add_counters(out, part)
    return out
