"""A figure set from grouped facts, and its CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from services.analytics.domain import metrics as m
from services.analytics.domain.audience import AudienceRule, Period
from services.analytics.domain.report import CSV_COLUMNS, Config, Member, in_audience, point, to_csv
from services.analytics.domain.windows import Granularity, later, windows_between

D = datetime(2026, 11, 1, tzinfo=UTC)
CONFIG = Config(
    rate_card={"LINKEDIN": m.RateCard(30.0, 5.0, 0.5)},
    organic_reach_rate={"LINKEDIN": 0.1},
    company_channel_audience={"LINKEDIN": 1000},
)


def member(i: str, team: str = "red", leader: bool = False) -> Member:
    return Member(i, team, "berlin", "en", "eng", leader, (Period(D, None),))


def test_point_combines_leaders_and_others():
    leaders = m.Group()
    leaders.add("l1", "LINKEDIN", m.Totals(shares=1, potential_reach=3000, clicks=2))
    others = m.Group()
    others.add("a1", "LINKEDIN", m.Totals(shares=2, potential_reach=1000, reactions=4))
    base = [member("l1", leader=True), member("a1"), member("a2")]
    p = point({True: leaders, False: others}, CONFIG, D, adoption_base=base, audience=base[:2])
    assert (p.shares, p.distinct_sharers, p.potential_reach, p.engagements) == (3, 2, 4000, 6)
    assert p.impressions_reported == 0 and p.impressions_estimated == pytest.approx(400)
    assert p.engagement_rate == pytest.approx(6 / 4000) and p.engagement_rate_basis is m.RateBasis.POTENTIAL_REACH
    assert p.ctr is None  # impressions unknown
    assert p.earned_media_value == pytest.approx(5 * (0.5 * 4 + 2))
    assert p.amplification_ratio == pytest.approx(4.0)
    assert p.adoption == pytest.approx(2 / 3) and (p.active_advocates, p.enrolled_advocates) == (2, 3)
    assert p.share_rate == pytest.approx(1.0)
    assert (p.leader_potential_reach, p.non_leader_potential_reach) == (3000, 1000)
    assert (p.leader_engagements, p.non_leader_engagements) == (2, 4)


def test_leader_participation_per_window_over_the_enrolled_leaders_of_the_base():
    g = m.Group()
    g.add("l1", "LINKEDIN", m.Totals(shares=1, potential_reach=100))
    g.add("l3", "LINKEDIN", m.Totals(shares=1, potential_reach=100))  # a leader outside the base
    g.add("l2", "LINKEDIN", m.Totals(clicks=4))  # engagement on an earlier share: not active
    base = [member("l1", leader=True), member("l2", leader=True), member("a1")]
    p = point({True: g}, CONFIG, D, adoption_base=base)
    assert p.leader_participation == pytest.approx(0.5) and (p.active_leaders, p.enrolled_leaders) == (1, 2)
    no_leaders = point({True: g}, CONFIG, D, adoption_base=[member("a1")])
    assert no_leaders.leader_participation is None and no_leaders.enrolled_leaders == 0
    content = point({True: g}, CONFIG, D)  # no adoption base (CONTENT, CAMPAIGN, NETWORK): not computed
    assert content.leader_participation is None and (content.active_leaders, content.enrolled_leaders) == (0, 0)


def test_empty_group_has_no_ratios():
    p = point({}, CONFIG, None, adoption_base=[])
    assert p.engagement_rate is None and p.engagement_rate_basis is m.RateBasis.NONE
    assert p.adoption is None and p.share_rate is None
    assert p.amplification_ratio == 0.0  # no reach over configured channels: a known 0, not unset


def test_audience_filter():
    people = [member("a", "red"), member("b", "blue")]
    assert [x.advocate_id for x in in_audience(people, AudienceRule(teams=("blue",)))] == ["b"]


def test_csv_has_a_header_and_empty_cells_for_unknown_ratios():
    g = m.Group()
    g.add("a", "LINKEDIN", m.Totals(shares=1, potential_reach=10))
    text = to_csv([point({False: g}, CONFIG, D)], currency="EUR", rate_card_version=1)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == CSV_COLUMNS
    assert rows[0]["window_start"] == D.isoformat() and rows[0]["shares"] == "1"
    assert rows[0]["ctr"] == "" and rows[0]["engagement_rate_basis"] == "POTENTIAL_REACH"
    # A later page of an export: the same rows without the header, so the pages concatenate.
    later_page = to_csv([point({False: g}, CONFIG, D)], currency="EUR", rate_card_version=1, header=False)
    assert text == "\r\n".join(text.split("\r\n")[:1]) + "\r\n" + later_page


def test_window_counts_and_the_end_of_time():
    t0 = datetime(2026, 11, 2, tzinfo=UTC)
    assert windows_between(t0, t0 + timedelta(hours=96, minutes=1), Granularity.HOUR) == 97
    assert windows_between(t0, t0 + timedelta(days=2), Granularity.DAY) == 2
    assert windows_between(t0, t0, Granularity.DAY) == 0
    assert later(datetime(9999, 12, 31, tzinfo=UTC), timedelta(days=1)) == datetime.max.replace(tzinfo=UTC)
