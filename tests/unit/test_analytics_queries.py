"""The analytics read use cases over an in-memory fact store: what each question answers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.analytics.app.ports import Comment, ContentState, Grouped
from services.analytics.app.queries import AnalyticsQueries, NotAuthor, UnknownContent
from services.analytics.domain.audience import AudienceRule, Period
from services.analytics.domain.fact import fact_document
from services.analytics.domain.metrics import Group, Totals
from services.analytics.domain.report import Config, Member
from services.analytics.domain.windows import Granularity, window_start

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
CONFIG = Config(rate_card={}, organic_reach_rate={}, company_channel_audience={"LINKEDIN": 5000})


class MemoryFacts:
    """The facts and states as the repository keeps them, grouped the way `grouped` does."""

    def __init__(self) -> None:
        self.docs: list[dict[str, Any]] = []
        self.members: list[Member] = []
        self.contents: dict[str, ContentState] = {}
        self.comment_rows: dict[str, list[Comment]] = {}
        self.comment_calls: list[tuple[str, int, tuple[datetime, str] | None]] = []

    def share(
        self, event_id: str, content: str, advocate: str, team: str, at: datetime, reach: int = 100, own: bool = False
    ) -> None:
        self.docs.append(
            fact_document(
                event_id=event_id,
                kind="SHARE",
                content_id=content,
                advocate_id=advocate,
                team=team,
                leader=advocate.startswith("lead"),
                campaign_id="",
                network="LINKEDIN",
                occurred_at=at,
                received_at=at,
                too_late=False,
                totals=Totals(shares=1, potential_reach=reach),
                own_post=own,
            )
        )

    def _matching(self, match: Mapping[str, Any], start: datetime | None, end: datetime | None) -> list[dict]:
        return [
            d
            for d in self.docs
            if all(d[k] == v for k, v in match.items())
            and (start is None or d["occurred_at"] >= start)
            and (end is None or d["occurred_at"] < end)
        ]

    async def grouped(
        self,
        match: Mapping[str, Any],
        granularity: Granularity,
        start: datetime | None,
        end: datetime | None,
        by: str | None = None,
    ) -> Grouped:
        out: Grouped = {}
        for d in self._matching(match, start, end):
            bucket = None if granularity is Granularity.ALL_TIME else window_start(d["occurred_at"], granularity)
            groups = out.setdefault((bucket, d[by] if by else ""), {})
            totals = Totals(shares=d["shares"], potential_reach=d["potential_reach"])
            groups.setdefault(d["leader"], Group()).add(d["advocate_id"], d["network"], totals)
        return out

    async def all_advocates(self) -> list[Member]:
        return list(self.members)

    async def content(self, content_id: str) -> ContentState | None:
        return self.contents.get(content_id)

    async def time_bounds(
        self, match: Mapping[str, Any], start: datetime | None, end: datetime | None
    ) -> tuple[datetime, datetime] | None:
        times = sorted(d["occurred_at"] for d in self._matching(match, start, end))
        return (times[0], times[-1]) if times else None

    async def comments(self, content_id: str, limit: int, after: tuple[datetime, str] | None = None) -> list[Comment]:
        self.comment_calls.append((content_id, limit, after))
        return self.comment_rows.get(content_id, [])[:limit]


def member(advocate_id: str, team: str, since: datetime = T0 - timedelta(days=30)) -> Member:
    return Member(advocate_id, team, "", "", "", advocate_id.startswith("lead"), (Period(since, None),))


def queries(facts: MemoryFacts) -> AnalyticsQueries:
    return AnalyticsQueries(lambda: facts, CONFIG, "EUR")


async def test_content_stats_count_each_sharer_once_across_leaders_and_others():
    facts = MemoryFacts()
    facts.share("e1", "c1", "a1", "red", T0, reach=700)
    facts.share("e2", "c1", "a1", "red", T0 + timedelta(hours=1), reach=0)
    facts.share("e3", "c1", "lead1", "red", T0, reach=300)
    facts.share("e4", "c2", "a2", "blue", T0, reach=50)
    assert await queries(facts).content_stats("c1") == (3, 2, 1000)
    assert await queries(facts).content_stats("nothing") == (0, 0, 0)


async def test_a_team_series_takes_adoption_over_that_teams_enrolled_advocates():
    facts = MemoryFacts()
    facts.members = [member("a1", "red"), member("a2", "red"), member("b1", "blue")]
    facts.share("e1", "c1", "a1", "red", T0)
    facts.share("e2", "c1", "b1", "blue", T0)
    [p] = await queries(facts).series("TEAM", "red", Granularity.ALL_TIME, None, None)
    assert (p.shares, p.active_advocates, p.enrolled_advocates, p.adoption) == (1, 1, 2, 0.5)


async def test_a_daily_series_has_one_point_per_window_with_facts_in_order():
    facts = MemoryFacts()
    facts.share("late", "c1", "a1", "red", T0 + timedelta(days=2))
    facts.share("early", "c1", "a1", "red", T0)
    points = await queries(facts).series("CONTENT", "c1", Granularity.DAY, None, None)
    assert [p.window_start for p in points] == [
        window_start(T0, Granularity.DAY),
        window_start(T0, Granularity.DAY) + timedelta(days=2),
    ]


async def test_a_paged_series_with_an_open_bound_and_no_facts_has_no_range():
    assert await queries(MemoryFacts()).first_range("PROGRAM", "", Granularity.HOUR, None, None) is None


async def test_a_paged_series_is_fixed_from_the_first_facts_window_to_the_end_of_the_last():
    facts = MemoryFacts()
    facts.share("e1", "c1", "a1", "red", T0 + timedelta(minutes=20))
    facts.share("e2", "c1", "a1", "red", T0 + timedelta(hours=4, minutes=5))
    q = queries(facts)
    at = await q.first_range("PROGRAM", "", Granularity.HOUR, None, None)
    assert at is not None
    assert (at.first_window, at.end, at.page_from) == (T0, T0 + timedelta(hours=5), T0)
    page = await q.series_page("PROGRAM", "", Granularity.HOUR, (None, None), at, 3)
    assert (page.total_windows, [p.window_start for p in page.points]) == (5, [T0])
    assert page.next is not None and page.next.page_from == T0 + timedelta(hours=3)
    last = await q.series_page("PROGRAM", "", Granularity.HOUR, (None, None), page.next, 3)
    assert (last.next, [p.window_start for p in last.points]) == (None, [T0 + timedelta(hours=4)])


async def test_the_ranking_orders_by_the_figure_then_content_id_and_titles_come_from_the_items():
    facts = MemoryFacts()
    facts.share("e1", "c-b", "a1", "red", T0, reach=500)
    facts.share("e2", "c-a", "a2", "red", T0, reach=500)
    facts.share("e3", "c-c", "a3", "red", T0, reach=900)
    facts.contents["c-a"] = ContentState("c-a", "author", "", "Plant opens", AudienceRule())
    q = queries(facts)
    ranked = await q.ranking("POTENTIAL_REACH", None, None)
    assert [(c, score) for c, score, _ in ranked] == [("c-c", 900), ("c-a", 500), ("c-b", 500)]
    assert [(c, title) for c, title, _ in await q.titled(ranked)] == [("c-c", ""), ("c-a", "Plant opens"), ("c-b", "")]


async def test_the_overview_counts_adoption_over_the_enrolled_and_names_the_company_audience():
    facts = MemoryFacts()
    facts.members = [member("a1", "red"), member("lead1", "red"), member("a2", "blue")]
    facts.share("e1", "c1", "lead1", "red", T0, reach=2500)
    totals, company = await queries(facts).overview(None, None)
    assert company == 5000
    assert (totals.active_advocates, totals.enrolled_advocates, totals.potential_reach) == (1, 3, 2500)
    assert (totals.active_leaders, totals.enrolled_leaders, totals.leader_participation) == (1, 1, 1.0)


async def test_only_the_items_author_reads_its_comments():
    facts = MemoryFacts()
    facts.contents["c1"] = ContentState("c1", "author", "", "Plant", AudienceRule())
    facts.comment_rows["c1"] = [Comment("e1", "s1", "a1", "LINKEDIN", "Great news", T0)]
    q = queries(facts)
    with pytest.raises(UnknownContent):
        await q.comments("nothing", "author", 10)
    with pytest.raises(NotAuthor):
        await q.comments("c1", "someone-else", 10)
    assert facts.comment_calls == []  # neither read a comment
    assert [c.text for c in await q.comments("c1", "author", 10, (T0, "e0"))] == ["Great news"]
    assert facts.comment_calls == [("c1", 10, (T0, "e0"))]


async def test_the_overview_splits_company_items_and_own_posts():
    facts = MemoryFacts()
    facts.members = [member("a1", "red"), member("a2", "blue")]
    facts.share("e1", "c1", "a1", "red", T0, reach=3000)
    facts.share("e2", "own:x", "a1", "red", T0, reach=1000, own=True)
    facts.share("e3", "own:y", "a2", "blue", T0, reach=500, own=True)
    q = queries(facts)
    totals, _ = await q.overview(None, None)
    split = await q.by_origin(None, None)
    assert (split["company"].shares, split["company"].potential_reach, split["company"].distinct_sharers) == (
        1,
        3000,
        1,
    )
    assert (split["own"].shares, split["own"].potential_reach, split["own"].distinct_sharers) == (2, 1500, 2)
    assert totals.potential_reach == split["company"].potential_reach + split["own"].potential_reach
    # A range without own posts still answers both origins.
    empty = await q.by_origin(T0 + timedelta(days=1), None)
    assert set(empty) == {"company", "own"} and empty["own"].shares == 0
