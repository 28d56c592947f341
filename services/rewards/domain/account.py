"""An advocate's account in its state record: ledger entries booked into the balance, the day
totals the daily cap counts, the period totals the leaderboards rank and the badge counters.

Pure: the award agent books every entry it announces, in the order of the advocate's partition,
so the state is exactly the sum of the ledger it emitted (the database ledger is only a sink).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache

from services.rewards.domain import boards
from services.rewards.domain.rules import (
    CLICK,
    LESSON,
    REDEMPTION,
    SHARE_RULES,
    STREAK_MEMORY_DAYS,
    UNCAPPED,
    AdvocateState,
    Award,
    RuleSet,
    apply_daily_cap,
    run_length,
)

# Day totals kept per advocate for the daily cap; an event of an older local day finds its day full.
DAY_MEMORY_DAYS = 62
PERIODS = (boards.WEEK, boards.MONTH, boards.QUARTER, boards.ALL_TIME)
# How long (in event time) an applied event's id is remembered, to recognise it sent again.
RECENT_EVENTS_HOURS = 48
FORGET_SLACK_HOURS = 6
REDEEMED, INSUFFICIENT_POINTS, OUT_OF_STOCK = "redeemed", "insufficient_points", "out_of_stock"


def entry_id(source_event_id: str, rule: str) -> str:
    return f"{source_event_id}:{rule}"


def ledger_document(
    *,
    source_event_id: str,
    rule: str,
    advocate_id: str,
    points: int,
    rule_set_version: int,
    campaign_id: str,
    content_id: str,
    occurred_at: datetime,
    capped: int = 0,
    team: str = "",
    leader: bool = False,
    local_day: str = "",
    units: int = 1,
) -> dict:
    return {
        "_id": entry_id(source_event_id, rule),
        "advocate_id": advocate_id,
        "points": points,
        "capped": capped,
        "rule": rule,
        "rule_set_version": rule_set_version,
        "source_event_id": source_event_id,
        "campaign_id": campaign_id,
        "content_id": content_id,
        "occurred_at": occurred_at,
        "team": team,
        "leader": leader,
        "local_day": local_day,
        "units": units,
    }


def period_key(period: str, day: date) -> str:
    """The key of the period containing `day`: "<period>:<first day>", or "all_time"."""
    bounds = boards.period_bounds(period, day)
    return period if bounds is None else f"{period}:{bounds[0]}"


def granted_on(state: AdvocateState, day: str, rules: RuleSet) -> int:
    """Points already granted on the advocate's local `day` (a forgotten day counts as full)."""
    if state.days_floor and day < state.days_floor:
        return max(rules.daily_cap, 0)
    return state.days.get(day, 0)


def cap(state: AdvocateState, day: str, awards: list[Award], rules: RuleSet) -> list[Award]:
    return apply_daily_cap(awards, granted_on(state, day, rules), rules)


def book(state: AdvocateState, doc: dict) -> None:
    """Books one ledger entry (the document the agent announces) into the state."""
    points = int(doc["points"])
    if doc["rule"] == REDEMPTION:
        state.redeemed -= points
        return
    state.earned += points
    day = doc["local_day"]
    if doc["rule"] not in UNCAPPED:  # the day's total is what the cap counts
        state.days[day] = state.days.get(day, 0) + points
        _forget_old_days(state, day)
    if points:
        for key in period_keys(day):
            _add(state.totals, key, points)
            if doc["campaign_id"]:
                _add(state.campaign_totals, f"{doc['campaign_id']}|{key}", points)
            if doc.get("team"):
                _add(state.team_totals, f"{doc['team']}|{key}", points)
            if doc.get("leader"):
                _add(state.leader_totals, key, points)
    _count_for_badges(state, doc)


@lru_cache(maxsize=1024)
def period_keys(day: str) -> tuple[str, ...]:
    """The keys of the periods (week, month, quarter, all time) containing a local day."""
    return tuple(period_key(period, date.fromisoformat(day)) for period in PERIODS)


def _add(totals: dict[str, int], key: str, points: int) -> None:
    totals[key] = totals.get(key, 0) + points


def _forget_old_days(state: AdvocateState, day: str) -> None:
    newest = max(state.days)
    floor = (date.fromisoformat(newest) - timedelta(days=DAY_MEMORY_DAYS)).isoformat()
    if any(d < floor for d in state.days):
        state.days = {d: p for d, p in state.days.items() if d >= floor}
        state.days_floor = max(state.days_floor, floor)


def _count_for_badges(state: AdvocateState, doc: dict) -> None:
    if doc["rule"] in SHARE_RULES:  # own posts count as shares for the badges
        state.shares += 1
        month = doc["local_day"][:7]
        state.share_months[month] = state.share_months.get(month, 0) + 1
        state.leader = state.leader or bool(doc.get("leader"))
        # (evaluate_share has added the day already; the rules remember the last few days.)
        state.share_days = sorted({*state.share_days, doc["local_day"]})[-STREAK_MEMORY_DAYS:]
        _extend_run(state, doc["local_day"])
        state.best_run = max(state.best_run, state.run_days)
    elif doc["rule"] == CLICK:
        state.click_units += int(doc.get("units", 1))
    elif doc["rule"] == LESSON:
        state.lessons += 1


def _extend_run(state: AdvocateState, day: str) -> None:
    """Keeps `run_days`, the run of share days ending at the newest share day, however long."""
    last = state.run_last
    newest = max(day, last)
    remembered = run_length(state.share_days, date.fromisoformat(newest))
    if last and date.fromisoformat(day) - date.fromisoformat(last) == timedelta(days=1):
        state.run_days = max(state.run_days + 1, remembered)
    elif day > last:
        # After a gap the run starts again; a state kept before this counter starts from the
        # remembered days.
        state.run_days = remembered
    else:
        # The same day, or a late one that may close a gap among the remembered days.
        state.run_days = max(state.run_days, remembered)
    state.run_last = newest


def first_early_bonus(state: AdvocateState, content_id: str) -> bool:
    """Remembers the item's early-sharer bonus; False when it was booked before (at most one per
    advocate and item, so the set stays as small as the advocate's early shares)."""
    if content_id in state.early_items:
        return False
    state.early_items.add(content_id)
    return True


def first_lesson(state: AdvocateState, lesson_id: str) -> bool:
    """Remembers the lesson's completion; False when it was awarded before, under this event id or
    another one (at most one award per advocate and lesson, for good: no time horizon)."""
    if lesson_id in state.lessons_done:
        return False
    state.lessons_done.add(lesson_id)
    return True


def first_time(state: AdvocateState, event_key: str, at: datetime) -> bool:
    """Remembers `event_key` (kind and source event id) for at least RECENT_EVENTS_HOURS of event
    time; False when it was applied before."""
    if event_key in state.recent_events:
        return False
    stamp = at.timestamp()
    state.recent_events[event_key] = stamp
    # Forgetting scans every id, so it waits until the first remembered (about the oldest) is
    # FORGET_SLACK_HOURS past the horizon: a scan per event would make a busy advocate's events O(n²).
    first = next(iter(state.recent_events.values()))
    if first < stamp - (RECENT_EVENTS_HOURS + FORGET_SLACK_HOURS) * 3600:
        horizon = max(state.recent_events.values()) - RECENT_EVENTS_HOURS * 3600
        state.recent_events = {k: v for k, v in state.recent_events.items() if v >= horizon}
    return True


def redemption_decision(state: AdvocateState, key: str, cost: int) -> str | None:
    """None when `key` was decided before (a retry: its outcome stands); otherwise whether the
    balance covers the cost (the stock is asked only then). A balance never goes negative."""
    if key in state.redemptions:
        return None
    return REDEEMED if state.balance >= cost else INSUFFICIENT_POINTS


SUMMARY_FIELDS = ("earned", "redeemed", "shares", "click_units", "best_run", "leader", "max_month_shares", "lessons")


def summary(state: AdvocateState) -> dict[str, int]:
    """What GetBalance and GetBadges read: every field only grows, so a stale record loses to the
    field-wise max (services/rewards/adapters/accounts.py)."""
    return {
        "earned": state.earned,
        "redeemed": state.redeemed,
        "shares": state.shares,
        "click_units": state.click_units,
        "best_run": state.best_run,
        "leader": int(state.leader),
        "max_month_shares": max(state.share_months.values(), default=0),
        "lessons": state.lessons,
    }


def announced(state: AdvocateState, through: dict[str, int]) -> bool:
    """Whether the outbox was announced: every source offset the state covers is within `through`,
    the offsets of the partition's batches whose effects were all done (a batch's effects are done
    in offset order, after its states are durable)."""
    return all(offset <= through.get(source, -1) for source, offset in state.offsets.items())


def stored_outbox(announcements: list[tuple[dict, str]], outcomes: list[dict]) -> tuple[list[list], list[dict]]:
    """The batch's effects in the JSON form of the state record (times in ISO 8601)."""
    return [[_stored_entry(doc), line] for doc, line in announcements], [
        {**o, "entry": _stored_entry(o["entry"]) if o["entry"] else None} for o in outcomes
    ]


def outbox_effects(state: AdvocateState) -> tuple[list[tuple[dict, str]], list[dict]]:
    """The state's outbox as the announcements and outcomes it was made from."""
    return [(_entry(doc), line) for doc, line in state.outbox], [
        {**o, "entry": _entry(o["entry"]) if o["entry"] else None} for o in state.outbox_outcomes
    ]


def _stored_entry(doc: dict) -> dict:
    return {**doc, "occurred_at": doc["occurred_at"].isoformat()}


def _entry(doc: dict) -> dict:
    return {**doc, "occurred_at": datetime.fromisoformat(doc["occurred_at"])}
