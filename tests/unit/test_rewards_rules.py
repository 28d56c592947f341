"""Every point rule of product.md, evaluated by the pure domain."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.rewards.domain import boards
from services.rewards.domain.account import first_time
from services.rewards.domain.early_sharers import EarlySharerRanking, rank_early_sharer
from services.rewards.domain.rules import (
    DEFAULT_RULES,
    AdvocateState,
    Award,
    Campaign,
    EngagementFacts,
    RuleSet,
    ShareFacts,
    apply_daily_cap,
    early_sharer_award,
    evaluate_engagement,
    evaluate_share,
    lesson_award,
    local_day,
    multiply,
)
from services.rewards.domain.thanks import thank_you

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday


def share(at: datetime, content: str = "c1", network: str = "NETWORK_LINKEDIN", personal: bool = False, tz: str = ""):
    return ShareFacts(network=network, personal_wording=personal, content_id=content, occurred_at=at, timezone=tz)


def rules_of(awards: list[Award]) -> dict[str, int]:
    return {a.rule: a.points for a in awards}


def test_first_share_earns_share_points_and_first_share_bonus():
    state = AdvocateState()
    assert rules_of(evaluate_share(state, share(T0), DEFAULT_RULES)) == {"share": 10, "first_share": 5}


def test_personal_wording_adds_five():
    state = AdvocateState()
    awards = evaluate_share(state, share(T0, personal=True), DEFAULT_RULES)
    assert rules_of(awards) == {"share": 10, "first_share": 5, "personal_wording": 5}


def test_points_per_network_are_data():
    rules = RuleSet(version=2, share_points_by_network={"NETWORK_XING": 12}, first_share_bonus=0)
    assert rules_of(evaluate_share(AdvocateState(), share(T0, network="NETWORK_XING"), rules)) == {"share": 12}
    assert rules_of(evaluate_share(AdvocateState(), share(T0, network="NETWORK_X"), rules)) == {"share": 10}


def test_second_item_share_on_another_network_has_no_first_share_bonus():
    state = AdvocateState()
    evaluate_share(state, share(T0), DEFAULT_RULES)
    awards = evaluate_share(state, share(T0 + timedelta(minutes=5), network="NETWORK_X"), DEFAULT_RULES)
    assert rules_of(awards) == {"share": 10}


def test_same_item_same_network_within_24h_is_worth_zero_and_no_bonus():
    state = AdvocateState()
    evaluate_share(state, share(T0), DEFAULT_RULES)
    again = evaluate_share(state, share(T0 + timedelta(hours=23, minutes=59), personal=True), DEFAULT_RULES)
    assert again == [Award("duplicate_share", 0)]
    # The window runs from the share that earned points, not from the duplicate.
    later = evaluate_share(state, share(T0 + timedelta(hours=24)), DEFAULT_RULES)
    assert rules_of(later) == {"share": 10}


def test_three_day_streak_in_advocates_timezone_across_utc_midnight():
    tz = "America/Los_Angeles"  # UTC-8 in November
    state = AdvocateState()
    # 20:00 local on Nov 1, 2, 3 = 04:00 UTC the next day: local days are 1, 2, 3.
    days = [datetime(2026, 11, d, 4, 0, tzinfo=UTC) for d in (2, 3, 4)]
    got = [
        rules_of(evaluate_share(state, share(at, content=f"c{i}", tz=tz), DEFAULT_RULES)) for i, at in enumerate(days)
    ]
    assert "streak" not in got[0] and "streak" not in got[1]
    assert got[2]["streak"] == 20
    assert local_day(days[0], tz) == date(2026, 11, 1)


def test_streak_uses_local_day_not_utc_day():
    # Two shares on the same UTC day but different local days (Helsinki, UTC+2), then a third.
    tz = "Europe/Helsinki"
    state = AdvocateState()
    a = datetime(2026, 11, 2, 21, 0, tzinfo=UTC)  # local Nov 2, 23:00
    b = datetime(2026, 11, 2, 23, 0, tzinfo=UTC)  # local Nov 3, 01:00
    c = datetime(2026, 11, 3, 23, 0, tzinfo=UTC)  # local Nov 4
    evaluate_share(state, share(a, "c1", tz=tz), DEFAULT_RULES)
    evaluate_share(state, share(b, "c2", tz=tz), DEFAULT_RULES)
    assert rules_of(evaluate_share(state, share(c, "c3", tz=tz), DEFAULT_RULES))["streak"] == 20
    # In UTC those are only two days: no streak.
    utc = AdvocateState()
    for at, c_ in ((a, "c1"), (b, "c2"), (c, "c3")):
        last = evaluate_share(utc, share(at, c_), DEFAULT_RULES)
    assert "streak" not in rules_of(last)


def test_streak_pays_once_per_completed_run_and_a_gap_resets_it():
    state = AdvocateState()
    got = []
    for d in range(7):
        if d == 4:
            continue  # a gap day
        at = T0 + timedelta(days=d)
        got.append("streak" in rules_of(evaluate_share(state, share(at, f"c{d}"), DEFAULT_RULES)))
    # days 0,1,2 -> streak on day 2; day 3 no; gap; days 5,6 only two in a row.
    assert got == [False, False, True, False, False, False]


def test_second_share_on_a_streak_day_does_not_pay_streak_again():
    state = AdvocateState()
    for d in range(3):
        evaluate_share(state, share(T0 + timedelta(days=d), f"c{d}"), DEFAULT_RULES)
    again = evaluate_share(state, share(T0 + timedelta(days=2, hours=1), "c9"), DEFAULT_RULES)
    assert "streak" not in rules_of(again)


def test_duplicate_share_does_not_count_for_a_streak():
    state = AdvocateState()
    evaluate_share(state, share(T0), DEFAULT_RULES)
    evaluate_share(state, share(T0 + timedelta(hours=20)), DEFAULT_RULES)  # a duplicate on the next day
    assert state.share_days == ["2026-11-02"]


def test_campaign_multiplier_while_it_runs_only():
    campaign = Campaign("k1", T0, T0 + timedelta(days=1), 1.5)
    during = evaluate_share(
        AdvocateState(),
        share(T0 + timedelta(hours=1), personal=True),
        DEFAULT_RULES,
        campaign.factor_at(T0 + timedelta(hours=1)),
    )
    assert rules_of(during) == {"share": 15, "first_share": 8, "personal_wording": 8}  # 7.5 rounds half up
    after = T0 + timedelta(days=1)
    assert campaign.factor_at(after) == 1.0
    assert campaign.factor_at(T0 - timedelta(seconds=1)) == 1.0
    assert multiply(3, 1.5) == 5 and multiply(5, 2.0) == 10


def test_unique_click_two_points_bots_self_and_repeats_removed():
    state = AdvocateState()

    def click(at, fp="f1", bot=False, me=False):
        return evaluate_engagement(
            state,
            EngagementFacts("ENGAGEMENT_KIND_CLICK", 1, "s1", at, fp, is_bot=bot, is_self=me),
            DEFAULT_RULES,
        )

    assert rules_of(click(T0)) == {"click": 2}
    assert click(T0 + timedelta(minutes=29)) == []  # same actor within 30 min
    assert rules_of(click(T0 + timedelta(minutes=31), "f1")) == {"click": 2}
    assert rules_of(click(T0, "f2")) == {"click": 2}
    assert click(T0, "f3", bot=True) == []
    assert click(T0, "f4", me=True) == []


@pytest.mark.parametrize(
    ("kind", "count", "points"),
    [
        ("ENGAGEMENT_KIND_REACTION", 1, 1),
        ("ENGAGEMENT_KIND_COMMENT", 1, 3),
        ("ENGAGEMENT_KIND_RESHARE", 1, 5),
        ("ENGAGEMENT_KIND_REACTION", 4, 4),
        ("ENGAGEMENT_KIND_RESHARE", 2, 10),
    ],
)
def test_reaction_comment_reshare_points(kind, count, points):
    awards = evaluate_engagement(AdvocateState(), EngagementFacts(kind, count, "s1", T0), DEFAULT_RULES)
    assert sum(a.points for a in awards) == points


def test_impressions_earn_nothing():
    facts = EngagementFacts("ENGAGEMENT_KIND_IMPRESSION", 500, "s1", T0)
    assert evaluate_engagement(AdvocateState(), facts, DEFAULT_RULES) == []


def test_engagement_multiplier():
    facts = EngagementFacts("ENGAGEMENT_KIND_COMMENT", 1, "s1", T0)
    assert evaluate_engagement(AdvocateState(), facts, DEFAULT_RULES, 2.0)[0].points == 6


def test_daily_cap_grants_what_fits_and_records_the_excess():
    awards = [Award("share", 10), Award("first_share", 5)]
    assert apply_daily_cap(awards, 188, DEFAULT_RULES) == [Award("share", 10, 0), Award("first_share", 2, 3)]
    assert apply_daily_cap(awards, 200, DEFAULT_RULES) == [Award("share", 0, 10), Award("first_share", 0, 5)]
    assert apply_daily_cap(awards, 0, RuleSet(daily_cap=0)) == awards


def test_daily_cap_total_is_order_independent():
    points = [10, 5, 5, 20, 3, 2, 50, 60, 70, 10, 5]
    for order in (points, list(reversed(points)), sorted(points)):
        total = 0
        for p in order:
            total += apply_daily_cap([Award("x", p)], total, DEFAULT_RULES)[0].points
        assert total == min(200, sum(points))


def test_early_sharer_first_ten_within_24h():
    ranking = EarlySharerRanking()
    published = T0
    got = [
        rank_early_sharer(ranking, f"a{i}", f"e{i}", T0 + timedelta(hours=1), published, DEFAULT_RULES)
        for i in range(12)
    ]
    assert got[:10] == [f"e{i}" for i in range(10)]
    assert got[10:] == [None, None]
    # A replay of an early share names the same source share again.
    assert rank_early_sharer(ranking, "a3", "other", T0, published, DEFAULT_RULES) == "e3"
    late = EarlySharerRanking()
    assert rank_early_sharer(late, "a1", "e1", T0 + timedelta(hours=24, seconds=1), published, DEFAULT_RULES) is None
    assert rank_early_sharer(late, "a1", "e1", T0, None, DEFAULT_RULES) is None
    assert early_sharer_award(DEFAULT_RULES) == [Award("early_sharer", 5)]
    assert early_sharer_award(DEFAULT_RULES, 1.5) == [Award("early_sharer", 8)]


def test_state_round_trips_through_json_shape():
    state = AdvocateState()
    evaluate_share(state, share(T0, personal=True), DEFAULT_RULES)
    state.mark_applied("share-made/1", 7)
    again = AdvocateState.from_dict(state.to_dict())
    assert again == state
    assert again.already_applied("share-made/1", 7) and not again.already_applied("share-made/1", 8)


def test_rule_set_round_trips_and_validates():
    rules = RuleSet(version=3, share_points_by_network={"NETWORK_X": 7}, daily_cap=50)
    assert RuleSet.from_doc(rules.to_doc()) == rules
    with pytest.raises(ValueError, match="daily_cap"):
        RuleSet(daily_cap=-1).validate()


def test_thank_you_lines():
    assert thank_you("Aino", Award("share", 10), "NETWORK_LINKEDIN", 1240) == (
        "Thanks, Aino: your share on LinkedIn can reach 1,240 people (+10 points)."
    )
    assert "cap" in thank_you("Aino", Award("click", 0, 2), "NETWORK_X", 0)
    assert "+3 points" in thank_you("", Award("comment", 3), "NETWORK_X", 0)
    assert thank_you("Aino", Award("first_share", 5), "NETWORK_X", 0) == (
        "Thanks, Aino, for sharing this item for the first time (+5 points)."
    )
    # The repeat rule is a window of hours (duplicate_window_hours), not a calendar day.
    assert "today" not in thank_you("Aino", Award("duplicate_share", 0), "NETWORK_X", 0)


def test_period_bounds_and_team_fairness():
    d = date(2026, 11, 4)
    assert boards.period_bounds("week", d) == ("2026-11-02", "2026-11-08")
    assert boards.period_bounds("month", d) == ("2026-11-01", "2026-11-30")
    assert boards.period_bounds("quarter", d) == ("2026-10-01", "2026-12-31")
    assert boards.period_bounds("month", date(2026, 12, 31)) == ("2026-12-01", "2026-12-31")
    assert boards.period_bounds("all_time", d) is None
    points = {("big", "a"): 100, ("big", "b"): 100, ("big", "c"): 100, ("small", "d"): 150}
    assert [r.key for r in boards.rank_teams(points, per_active_advocate=False)] == ["big", "small"]
    fair = boards.rank_teams(points, per_active_advocate=True)
    assert [(r.key, r.score, r.advocates) for r in fair] == [("small", 150.0, 1), ("big", 100.0, 3)]


def test_an_event_id_is_remembered_for_48_hours_of_event_time_then_forgotten_in_bulk():
    start = datetime(2026, 10, 1, tzinfo=UTC)
    state = AdvocateState()
    assert first_time(state, "share:e0", start)
    for hour in range(1, 60):
        assert first_time(state, f"share:e{hour}", start + timedelta(hours=hour))
        assert not first_time(state, f"share:e{max(hour - 47, 0)}", start + timedelta(hours=hour))
    assert "share:e0" not in state.recent_events  # forgotten once the first was 6 h past the horizon
    assert {f"share:e{h}" for h in range(11, 60)} <= set(state.recent_events)  # the last 48 h kept
    assert len(state.recent_events) <= 54


def test_a_lesson_earns_the_lesson_points_of_the_rule_set_even_zero_as_a_record():
    assert DEFAULT_RULES.lesson_points == 20
    assert lesson_award(DEFAULT_RULES) == [Award("lesson", 20)]
    assert lesson_award(RuleSet(lesson_points=35)) == [Award("lesson", 35)]
    # At 0 the completion is still an entry (the ledger and the badges count it), like a 0-point share.
    assert lesson_award(RuleSet(lesson_points=0)) == [Award("lesson", 0)]
    with pytest.raises(ValueError, match="lesson_points: must be 0"):
        RuleSet(lesson_points=-1).validate()
    assert "training lesson" in thank_you("Aino", Award("lesson", 20), "", 0)


def test_lesson_points_are_outside_the_daily_cap_and_take_no_room():
    awards = [Award("share", 10), Award("lesson", 20), Award("first_share", 5)]
    assert apply_daily_cap(awards, 188, DEFAULT_RULES) == [
        Award("share", 10, 0),
        Award("lesson", 20, 0),  # granted whole, and the 2 points of room are left for the bonus
        Award("first_share", 2, 3),
    ]
    assert apply_daily_cap([Award("lesson", 20)], 200, DEFAULT_RULES) == [Award("lesson", 20)]


def test_a_rule_set_stored_before_lessons_means_the_default_lesson_points():
    stored = RuleSet(version=6, daily_cap=50, lesson_points=7).to_doc()
    assert RuleSet.from_doc(stored).lesson_points == 7
    del stored["lesson_points"]
    assert RuleSet.from_doc(stored) == RuleSet(version=6, daily_cap=50, lesson_points=20)


def own(at: datetime, content: str = "own:abc", network: str = "NETWORK_LINKEDIN", personal: bool = False):
    return ShareFacts(network=network, personal_wording=personal, content_id=content, occurred_at=at, own_post=True)


def test_an_own_post_earns_as_a_share_on_its_network_unless_the_rule_set_says_otherwise():
    assert DEFAULT_RULES.own_post_points is None  # "as a share"
    by_network = RuleSet(share_points_by_network={"NETWORK_XING": 12})
    assert rules_of(evaluate_share(AdvocateState(), own(T0), DEFAULT_RULES)) == {"own_post": 10, "first_share": 5}
    assert rules_of(evaluate_share(AdvocateState(), own(T0, network="NETWORK_XING"), by_network))["own_post"] == 12
    fixed = RuleSet(share_points_by_network={"NETWORK_XING": 12}, own_post_points=4)
    assert rules_of(evaluate_share(AdvocateState(), own(T0, network="NETWORK_XING"), fixed))["own_post"] == 4
    # An explicit 0 is still a (zero-point) entry, like a zero-point share.
    assert evaluate_share(AdvocateState(), own(T0), RuleSet(own_post_points=0))[0] == Award("own_post", 0)
    with pytest.raises(ValueError, match="own_post_points: must be 0"):
        RuleSet(own_post_points=-1).validate()


def test_an_own_post_gets_no_personal_wording_bonus_and_repeats_like_an_item():
    state = AdvocateState()
    assert rules_of(evaluate_share(state, own(T0, personal=True), DEFAULT_RULES)) == {"own_post": 10, "first_share": 5}
    # The same page (synthetic id) on the same network within 24 h: a repeat, worth nothing.
    assert rules_of(evaluate_share(state, own(T0 + timedelta(hours=1)), DEFAULT_RULES)) == {"duplicate_share": 0}
    # ... on another network: counts, but it is not the first share of that page any more.
    assert rules_of(evaluate_share(state, own(T0, network="NETWORK_X"), DEFAULT_RULES)) == {"own_post": 10}


def test_own_posts_make_streak_days_like_shares_and_take_the_campaign_free_path():
    state = AdvocateState()
    evaluate_share(state, share(T0), DEFAULT_RULES)
    evaluate_share(state, own(T0 + timedelta(days=1)), DEFAULT_RULES)
    third = evaluate_share(state, own(T0 + timedelta(days=2), content="own:def"), DEFAULT_RULES)
    assert rules_of(third) == {"own_post": 10, "first_share": 5, "streak": 20}
    assert "your own post on LinkedIn can reach 1,240 people" in thank_you(
        "Aino", Award("own_post", 10), "NETWORK_LINKEDIN", 1240
    )


def test_a_rule_set_without_own_post_points_means_as_a_share():
    stored = RuleSet(version=3, own_post_points=7).to_doc()
    assert RuleSet.from_doc(stored).own_post_points == 7
    del stored["own_post_points"]
    assert RuleSet.from_doc(stored) == RuleSet(version=3)
