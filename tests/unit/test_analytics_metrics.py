"""Every analytics formula of docs/product.md, with its zero-denominator and unknown-impressions cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.analytics.domain import metrics as m
from services.analytics.domain.audience import AudienceRule, Period, enrolled_during
from services.analytics.domain.windows import Granularity, click_key, is_too_late, window_start

CARD = {"LINKEDIN": m.RateCard(cpm=30.0, cpc=5.0, reaction_multiplier=0.5), "X": m.RateCard(6.0, 1.0, 0.2)}


def t(**kw: int) -> m.Totals:
    return m.Totals(**kw)


def test_potential_reach_is_the_sum_of_audiences_at_share_time():
    a, b, c = ("c1", "a1", "LINKEDIN"), ("c1", "a1", "X"), ("c1", "a2", "LINKEDIN")
    assert m.potential_reach([(a, 500), (b, 1200), (c, 0)]) == 1700
    assert m.potential_reach([]) == 0


def test_potential_reach_counts_each_item_advocate_network_once_at_its_first_share():
    a, b = ("c1", "a1", "LINKEDIN"), ("c2", "a1", "LINKEDIN")
    # The repeat of `a` reaches the same people (its audience grew since: still the first one's).
    assert m.potential_reach([(a, 500), (b, 300), (a, 800), (a, 500)]) == 800
    assert m.potential_reach([(a, -5), (a, 900)]) == 0  # the first share carried no audience


def test_reach_keys_name_the_triple_unambiguously():
    assert m.reach_key("c1", "a1", "X") == m.reach_key("c1", "a1", "X")
    assert m.reach_key("c|1", "a", "X") != m.reach_key("c", "1|a", "X")
    assert m.reach_key("c1", "a1", "X") != m.reach_key("c1", "a1", "LINKEDIN")


def test_engagements_are_clicks_reactions_comments_reshares_not_impressions():
    assert m.engagements(t(impressions=1000, clicks=3, reactions=4, comments=2, reshares=1)) == 10


def test_engagement_rate_uses_impressions_when_reported():
    rate, basis = m.engagement_rate({"LINKEDIN": t(impressions=200, potential_reach=5000, clicks=5, reactions=5)})
    assert rate == pytest.approx(0.05)
    assert basis is m.RateBasis.IMPRESSIONS


def test_engagement_rate_falls_back_to_potential_reach_labelled_when_impressions_unknown():
    rate, basis = m.engagement_rate({"X": t(potential_reach=1000, clicks=5, comments=5)})
    assert rate == pytest.approx(0.01)
    assert basis is m.RateBasis.POTENTIAL_REACH


def test_engagement_rate_without_any_denominator_is_not_computable():
    assert m.engagement_rate({"X": t(clicks=3)}) == (None, m.RateBasis.NONE)
    assert m.engagement_rate({}) == (None, m.RateBasis.NONE)


def test_rates_never_divide_one_networks_engagement_by_anothers_impressions():
    by_net = {
        "LINKEDIN": t(impressions=1000, potential_reach=4000, clicks=10, reactions=20),
        "FACEBOOK": t(potential_reach=3000, clicks=90, comments=10),  # no impressions reported
    }
    rate, basis = m.engagement_rate(by_net)
    assert rate == pytest.approx(30 / 1000)  # not (30 + 100) / 1000
    assert basis is m.RateBasis.IMPRESSIONS
    assert m.click_through_rate(by_net) == pytest.approx(10 / 1000)  # not 100 / 1000


def test_engagement_rate_on_potential_reach_counts_only_networks_shared_on():
    # No impressions anywhere; LinkedIn has engagement on an earlier share but no share here.
    by_net = {"X": t(potential_reach=2000, clicks=4), "LINKEDIN": t(reactions=50)}
    assert m.engagement_rate(by_net) == (pytest.approx(4 / 2000), m.RateBasis.POTENTIAL_REACH)


def test_ctr_is_clicks_over_impressions_and_unknown_without_impressions():
    assert m.click_through_rate({"X": t(impressions=400, clicks=10)}) == pytest.approx(0.025)
    assert m.click_through_rate({"X": t(potential_reach=400, clicks=10)}) is None


def test_estimated_impressions_use_the_per_network_organic_rate():
    est = m.estimated_impressions({"LINKEDIN": 1000, "X": 2000, "XING": 50}, {"LINKEDIN": 0.1, "X": 0.05})
    assert est == pytest.approx(100 + 100)  # XING has no rate: 0


def test_emv_uses_the_rate_card_per_network():
    by_net = {
        "LINKEDIN": t(impressions=2000, clicks=10, reactions=20),
        "X": t(impressions=1000, clicks=4, reactions=10),
        "FACEBOOK": t(impressions=99999, clicks=99),  # not on the rate card: worth 0
    }
    expected = (30 * 2000 / 1000 + 5 * (0.5 * 20 + 10)) + (6 * 1000 / 1000 + 1 * (0.2 * 10 + 4))
    assert m.earned_media_value(by_net, CARD) == pytest.approx(expected)
    assert m.earned_media_value({}, CARD) == 0


def test_adoption_counts_only_advocates_enrolled_in_the_window():
    assert m.adoption({"a", "b", "x"}, {"a", "b", "c", "d"}) == pytest.approx(0.5)
    assert m.adoption({"a"}, set()) is None


def test_share_rate_is_distinct_sharers_over_the_items_audience():
    assert m.share_rate({"a", "outsider"}, {"a", "b", "c", "d"}) == pytest.approx(0.25)
    assert m.share_rate({"a"}, set()) is None


def test_amplification_ratio_of_a_group_is_all_its_reach_over_all_company_channels():
    company = {"LINKEDIN": 2000, "X": 1000}
    # Reach on a network without a company channel still counts: it is reach the company earned.
    assert m.amplification_ratio({"LINKEDIN": 30000, "X": 6000, "XING": 3000}, company) == pytest.approx(13.0)
    assert m.amplification_ratio({"LINKEDIN": 30000}, company) == pytest.approx(10.0)  # X channel still counted
    assert m.amplification_ratio({}, company) == 0.0  # nothing shared: no amplification, and known
    assert m.amplification_ratio({"LINKEDIN": 30000}, {}) is None  # no channel configured
    assert m.amplification_ratio({"LINKEDIN": 30000}, {"LINKEDIN": 0}) is None
    assert m.company_channels({"LINKEDIN": 2000, "X": 1000, "XING": 0}) == 3000


def test_one_more_share_never_lowers_a_groups_amplification():
    company = {"LINKEDIN": 5000, "X": 2000}
    before = m.amplification_ratio({"LINKEDIN": 10000}, company)
    after = m.amplification_ratio({"LINKEDIN": 10000, "X": 100}, company)  # a first, small share on X
    assert before is not None and after is not None and after > before


def test_amplification_ratio_of_one_network_is_over_that_networks_channel_only():
    company = {"LINKEDIN": 5000, "X": 2000}
    assert m.amplification_ratio({"X": 2000}, company, "X") == pytest.approx(1.0)  # not 2000 / 7000
    assert m.amplification_ratio({}, company, "X") == 0.0
    assert m.amplification_ratio({"FACEBOOK": 3000}, company, "FACEBOOK") is None  # no channel: not 0.0


def test_leader_participation():
    assert m.leader_participation({"l1", "a"}, {"l1", "l2", "l3", "l4"}) == pytest.approx(0.25)
    assert m.leader_participation({"a"}, set()) is None


def test_ratio_division_by_zero():
    assert m.ratio(5, 0) is None
    assert m.ratio(0, 5) == 0


def test_group_keeps_distinct_sharers_and_network_split():
    g = m.Group()
    g.add("a", "LINKEDIN", t(shares=1, potential_reach=100))
    g.add("a", "X", t(shares=1, potential_reach=50))
    g.add("b", "X", t(clicks=3))  # engagement only: not a sharer
    assert g.totals.shares == 2 and g.totals.potential_reach == 150 and g.totals.clicks == 3
    assert g.sharers == {"a"}
    assert g.reach_by_network() == {"LINKEDIN": 100, "X": 50}


def test_windows_are_utc_tumbling():
    at = datetime(2026, 11, 27, 13, 45, 10, tzinfo=UTC)
    assert window_start(at, Granularity.HOUR) == datetime(2026, 11, 27, 13, tzinfo=UTC)
    assert window_start(at, Granularity.DAY) == datetime(2026, 11, 27, tzinfo=UTC)


def test_allowed_lateness_counts_from_the_end_of_the_hourly_window():
    at = datetime(2026, 11, 27, 13, 45, tzinfo=UTC)
    lateness = timedelta(hours=2)
    assert not is_too_late(at, datetime(2026, 11, 27, 16, 0, tzinfo=UTC), lateness)
    assert is_too_late(at, datetime(2026, 11, 27, 16, 0, 1, tzinfo=UTC), lateness)


def test_click_key_one_per_actor_share_and_30_minute_slot():
    base = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)
    assert click_key("s", "f", base) == click_key("s", "f", base + timedelta(minutes=29))
    assert click_key("s", "f", base) != click_key("s", "f", base + timedelta(minutes=30))
    assert click_key("s", "f", base) != click_key("s", "g", base)
    assert click_key("s", "f", base) != click_key("s2", "f", base)


def test_enrolment_periods_overlap_the_window():
    d = lambda day: datetime(2026, 11, day, tzinfo=UTC)  # noqa: E731
    periods = [Period(d(1), d(5)), Period(d(20), None)]
    assert enrolled_during(periods, d(3), d(4))
    assert not enrolled_during(periods, d(6), d(19))
    assert not enrolled_during(periods, d(5), d(6))  # left at the start of the window
    assert enrolled_during(periods, d(25), None)
    assert enrolled_during(periods, None, None)
    assert not enrolled_during([], None, None)


def test_audience_rule_empty_means_everyone():
    assert AudienceRule().includes("sales", "berlin", "de", "engineer")
    rule = AudienceRule(teams=("sales",), languages=("de", "en"))
    assert rule.includes("sales", "x", "en", "y")
    assert not rule.includes("ops", "x", "en", "y")
    assert not rule.includes("sales", "x", "fr", "y")
