"""Badges as data: the default badges, custom badge rules, their validation and the counters behind them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from services.rewards.api.servicer import MAX_PAGE
from services.rewards.domain import account, badges, leaderboards
from services.rewards.domain.badges import (
    CLICKS,
    DEFAULT_BADGES,
    LEADER_MONTH_SHARES,
    LESSONS_COMPLETED,
    MONTHLY_RANK,
    SHARES,
    STREAK_DAYS,
    BadgeFacts,
    BadgeRule,
)
from services.rewards.domain.rules import AdvocateState, RuleSet

ALL = BadgeFacts(
    shares=10, clicks=100, longest_run=7, leader=True, max_month_shares=5, monthly_rank=3, lessons_completed=1
)
NONE = BadgeFacts(shares=0, clicks=0, longest_run=1, leader=False, max_month_shares=0, monthly_rank=11)


def ids(rules: tuple[BadgeRule, ...], facts: BadgeFacts) -> list[str]:
    return [b.badge_id for b in badges.earned(rules, facts)]


def test_the_default_badges_are_the_six_of_before_and_ready_to_share_with_their_thresholds():
    assert [(b.badge_id, b.kind, b.threshold) for b in DEFAULT_BADGES] == [
        ("first_share", SHARES, 1),
        ("ten_shares", SHARES, 10),
        ("hundred_clicks", CLICKS, 100),
        ("seven_day_streak", STREAK_DAYS, 7),
        ("top_ten_of_month", MONTHLY_RANK, 10),
        ("leader_voice", LEADER_MONTH_SHARES, 5),
        ("ready-to-share", LESSONS_COMPLETED, 1),
    ]
    assert all(b.name and b.description for b in DEFAULT_BADGES)
    assert RuleSet().badges == DEFAULT_BADGES
    assert ids(DEFAULT_BADGES, ALL) == [b.badge_id for b in DEFAULT_BADGES]
    assert ids(DEFAULT_BADGES, NONE) == []
    # Each threshold is the boundary: one short of it earns nothing.
    short = BadgeFacts(shares=9, clicks=99, longest_run=6, leader=True, max_month_shares=4, monthly_rank=11)
    assert ids(DEFAULT_BADGES, short) == ["first_share"]
    assert ids(DEFAULT_BADGES, replace(ALL, leader=False, monthly_rank=None)) == [
        "first_share",
        "ten_shares",
        "hundred_clicks",
        "seven_day_streak",
        "ready-to-share",
    ]


def test_custom_badges_are_evaluated_from_the_rules_given():
    rules = (
        BadgeRule("ten_shares", "20 shares", SHARES, 20),  # a changed threshold
        BadgeRule("fifty_shares", "50 shares", SHARES, 50, "Fifty of them."),
        BadgeRule("month_streak", "30-day streak", STREAK_DAYS, 30),
        BadgeRule("podium", "Podium", MONTHLY_RANK, 3),
        BadgeRule("leader_ten", "Leader, 10 a month", LEADER_MONTH_SHARES, 10),
    )
    assert ids(rules, ALL) == ["podium"]
    busy = BadgeFacts(shares=50, clicks=0, longest_run=30, leader=True, max_month_shares=10, monthly_rank=4)
    assert ids(rules, busy) == ["ten_shares", "fifty_shares", "month_streak", "leader_ten"]
    assert ids((), busy) == []
    assert badges.needs_rank(rules) and not badges.needs_rank(rules[:3])


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (BadgeRule("", "x", SHARES, 1), r"badges\[1\]\.badge_id"),
        (BadgeRule("Has Space", "x", SHARES, 1), r"badges\[1\]\.badge_id"),
        (BadgeRule("first_share", "again", SHARES, 1), r"badges\[1\]\.badge_id: 'first_share' appears twice"),
        (BadgeRule("b", " ", SHARES, 1), r"badges\[1\]\.name"),
        (BadgeRule("b", "x" * 101, SHARES, 1), r"badges\[1\]\.name"),
        (BadgeRule("b", "x", SHARES, 1, "d" * 501), r"badges\[1\]\.description"),
        (BadgeRule("b", "x", "likes", 1), r"badges\[1\]\.kind: must be one of shares, clicks"),
        (BadgeRule("b", "x", SHARES, 0), r"badges\[1\]\.threshold: must be 1\.\."),
        (BadgeRule("b", "x", CLICKS, -5), r"badges\[1\]\.threshold"),
        (BadgeRule("b", "x", MONTHLY_RANK, 501), r"badges\[1\]\.threshold: must be 1\.\.500 for monthly_rank"),
    ],
)
def test_a_bad_badge_rule_is_refused_naming_the_field(rule, message):
    first = BadgeRule("first_share", "First share", SHARES, 1)
    with pytest.raises(ValueError, match=message):
        badges.validate([first, rule])
    with pytest.raises(ValueError, match=message):  # as part of the rule set
        RuleSet(badges=(first, rule)).validate()


def test_valid_badge_lists_pass_and_their_size_is_bounded():
    badges.validate(DEFAULT_BADGES)
    badges.validate([BadgeRule("top", "Top", MONTHLY_RANK, 500), BadgeRule("fifty_shares", "50", SHARES, 50)])
    badges.validate([])
    many = [BadgeRule(f"b{i}", "x", SHARES, i + 1) for i in range(badges.MAX_BADGES + 1)]
    with pytest.raises(ValueError, match="badges: at most"):
        badges.validate(many)
    # A rank threshold never reaches past the rows GetBadges reads from the board.
    assert badges.MAX_RANK <= min(MAX_PAGE, leaderboards.TOP_N)


def test_a_rule_set_stored_without_badges_means_the_default_badges():
    stored = RuleSet(version=4, daily_cap=50).to_doc()
    del stored["badges"]
    assert RuleSet.from_doc(stored) == RuleSet(version=4, daily_cap=50, badges=DEFAULT_BADGES)
    custom = RuleSet(version=5, badges=(BadgeRule("fifty_shares", "50 shares", SHARES, 50, "Fifty."),))
    doc = custom.to_doc()
    assert doc["badges"] == [
        {"badge_id": "fifty_shares", "name": "50 shares", "kind": "shares", "threshold": 50, "description": "Fifty."}
    ]
    assert RuleSet.from_doc(doc) == custom
    assert RuleSet.from_doc({**doc, "badges": []}).badges == ()


def book_share(state: AdvocateState, day: date, n: int) -> None:
    doc = account.ledger_document(
        source_event_id=f"s{n}",
        rule="share",
        advocate_id="aino",
        points=10,
        rule_set_version=1,
        campaign_id="",
        content_id=f"c{n}",
        occurred_at=datetime(day.year, day.month, day.day, 9, tzinfo=UTC),
        local_day=day.isoformat(),
    )
    account.book(state, doc)


def test_the_streak_counter_counts_runs_longer_than_the_remembered_days():
    state = AdvocateState()
    start = date(2026, 10, 1)
    for n in range(40):
        book_share(state, start + timedelta(days=n), n)
    assert len(state.share_days) < 40  # only the last few days are remembered...
    assert state.best_run == 40 and account.summary(state)["best_run"] == 40  # ...the run is counted whole
    book_share(state, start + timedelta(days=39), 99)  # a second share the same day
    book_share(state, start + timedelta(days=42), 100)  # a gap: a new run, the best one stays
    assert (state.run_days, state.best_run) == (1, 40)
    assert badges.earned([BadgeRule("forty", "40 days", STREAK_DAYS, 40)], BadgeFacts(40, 0, 40, False, 40, None))


def test_a_late_share_closing_a_gap_joins_the_runs_and_a_state_from_before_the_counter_continues():
    state = AdvocateState()
    for n, day in enumerate(["2026-10-01", "2026-10-02", "2026-10-04", "2026-10-05"]):
        book_share(state, date.fromisoformat(day), n)
    assert (state.run_days, state.best_run) == (2, 2)
    book_share(state, date(2026, 10, 3), 9)  # arrives late
    assert (state.run_days, state.best_run, state.run_last) == (5, 5, "2026-10-05")
    # A state written before run_days existed: the remembered days seed the run.
    old = {k: v for k, v in state.to_dict().items() if k not in ("run_days", "run_last")}
    resumed = AdvocateState.from_dict(old)
    assert (resumed.run_days, resumed.run_last) == (0, "")
    book_share(resumed, date(2026, 10, 6), 10)
    assert (resumed.run_days, resumed.best_run) == (6, 6)


def book_lesson(state: AdvocateState, lesson: str, points: int = 20, day: str = "2026-10-01") -> None:
    doc = account.ledger_document(
        source_event_id=f"l-{lesson}",
        rule="lesson",
        advocate_id="aino",
        points=points,
        rule_set_version=1,
        campaign_id="",
        content_id=lesson,
        occurred_at=datetime.fromisoformat(day).replace(tzinfo=UTC),
        local_day=day,
    )
    account.book(state, doc)


def test_ready_to_share_is_earned_by_a_completed_lesson_counted_from_the_booked_entries():
    state = AdvocateState()
    assert account.summary(state)["lessons"] == 0
    facts = replace(NONE, lessons_completed=account.summary(state)["lessons"])
    assert ids(DEFAULT_BADGES, facts) == []
    book_lesson(state, "intro", points=0)  # a lesson worth 0 points still counts as completed
    book_lesson(state, "tone")
    assert account.summary(state)["lessons"] == 2 and state.earned == 20
    facts = replace(NONE, lessons_completed=account.summary(state)["lessons"])
    assert ids(DEFAULT_BADGES, facts) == ["ready-to-share"]
    three = (BadgeRule("three_lessons", "3 lessons", LESSONS_COMPLETED, 3),)
    assert ids(three, facts) == [] and ids(three, replace(facts, lessons_completed=3)) == ["three_lessons"]
    # Lesson points are outside the daily cap: the day's total the cap counts is untouched.
    assert state.days == {} and state.totals["all_time"] == 20


def test_a_stored_rule_set_with_its_own_badge_list_keeps_it_without_ready_to_share():
    before = tuple(b for b in DEFAULT_BADGES if b.kind != LESSONS_COMPLETED)  # as stored before issue 23
    doc = RuleSet(version=3, badges=before).to_doc()
    assert [b.badge_id for b in RuleSet.from_doc(doc).badges] == [b.badge_id for b in before]
    assert "ready-to-share" not in [b.badge_id for b in RuleSet.from_doc(doc).badges]
