"""Read side: series, top content, program overview, comments, computed from the materialized facts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from services.analytics.app.ports import DIMENSION_FIELDS, Comment, ContentState, FactReader
from services.analytics.domain import metrics as m
from services.analytics.domain.fact import ORIGINS
from services.analytics.domain.rate_card import VersionedRateCard
from services.analytics.domain.report import Config, Member, Point, enrolled, in_audience, point
from services.analytics.domain.windows import WINDOW_SIZE, Granularity, later, window_start, windows_between


@dataclass(frozen=True)
class SeriesRange:
    """A paged series' range, fixed by its first page: windows from `first_window` (a window
    start) to `end`; a page starts at `page_from`."""

    first_window: datetime
    end: datetime
    page_from: datetime


@dataclass(frozen=True)
class SeriesPage:
    points: list[Point]
    total_windows: int
    next: SeriesRange | None  # None on the last page


class UnknownContent(LookupError):
    pass


class NotAuthor(PermissionError):
    pass


def _clip(
    bucket: datetime | None, granularity: Granularity, start: datetime | None, end: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """The window a point covers, within the requested range."""
    if bucket is None:
        return start, end
    w_start, w_end = bucket, bucket + WINDOW_SIZE[granularity]
    return (max(w_start, start) if start else w_start), (min(w_end, end) if end else w_end)


class AnalyticsQueries:
    def __init__(self, repo: Callable[[], FactReader], config: Config, currency: str) -> None:
        self._repo = repo
        self.config = config
        self.currency = currency

    def priced(self, card: VersionedRateCard) -> AnalyticsQueries:
        """These queries with EMV priced by `card` (EMV is a valuation of the counts when asked)."""
        return AnalyticsQueries(self._repo, replace(self.config, rate_card=card.rates), card.currency)

    async def content_stats(self, content_id: str) -> tuple[int, int, int]:
        """(shares, distinct sharers, potential reach) of one item, over all time."""
        rows = await self._repo().grouped({"content_id": content_id}, Granularity.ALL_TIME, None, None)
        merged = m.Group()
        for groups in rows.values():
            for g in groups.values():
                merged.totals.add(g.totals)
                merged.sharers |= g.sharers
        return merged.totals.shares, len(merged.sharers), merged.totals.potential_reach

    async def series(
        self, dimension: str, key: str, granularity: Granularity, start: datetime | None, end: datetime | None
    ) -> list[Point]:
        field = DIMENSION_FIELDS[dimension]
        match = {field: key} if field else {}
        rows = await self._repo().grouped(match, granularity, start, end)
        members = await self._repo().all_advocates()
        content: ContentState | None = None
        if dimension == "CONTENT":
            content = await self._repo().content(key)
        points = []
        for (bucket, _), by_leader in sorted(rows.items(), key=lambda kv: kv[0][0] or datetime.min):
            w_start, w_end = _clip(bucket, granularity, start, end)
            base: list[Member] | None = None
            audience: list[Member] | None = None
            if dimension in ("ADVOCATE", "TEAM", "PROGRAM"):
                base = enrolled(members, w_start, w_end)
                if dimension == "TEAM":
                    base = [a for a in base if a.team == key]
                elif dimension == "ADVOCATE":
                    base = [a for a in base if a.advocate_id == key]
            if content is not None:
                audience = in_audience(enrolled(members, w_start, w_end), content.audience)
            network = key if dimension == "NETWORK" else None
            points.append(point(by_leader, self.config, bucket, adoption_base=base, audience=audience, network=network))
        return points

    async def first_range(
        self, dimension: str, key: str, granularity: Granularity, start: datetime | None, end: datetime | None
    ) -> SeriesRange | None:
        """The range a paged series covers, fixed at its first page: an open bound becomes the
        window of the first / last fact then. None when an open bound finds no fact."""
        field = DIMENSION_FIELDS[dimension]
        match = {field: key} if field else {}
        first, last = start, end
        if first is None or last is None:
            bounds = await self._repo().time_bounds(match, start, end)
            if bounds is None:
                return None
            first = first or bounds[0]
            last = last or later(window_start(bounds[1], granularity), WINDOW_SIZE[granularity])
        first_window = window_start(first, granularity)
        return SeriesRange(first_window, last, first_window)

    async def series_page(
        self,
        dimension: str,
        key: str,
        granularity: Granularity,
        bounds: tuple[datetime | None, datetime | None],
        at: SeriesRange,
        size: int,
    ) -> SeriesPage:
        """`size` windows of the series from `at.page_from`, clipped to the requested `bounds` as
        the whole series is (a page boundary is a window boundary, so its points are the same)."""
        start, end = bounds
        page_to = later(at.page_from, min(size * WINDOW_SIZE[granularity], at.end - at.page_from))
        more = page_to < at.end
        from_ = max(start, at.page_from) if start else at.page_from
        points = await self.series(dimension, key, granularity, from_, page_to if more else end or at.end)
        total = windows_between(at.first_window, at.end, granularity)
        return SeriesPage(points, total, SeriesRange(at.first_window, at.end, page_to) if more else None)

    async def ranking(
        self, metric: str, start: datetime | None, end: datetime | None
    ) -> list[tuple[str, float, Point]]:
        """Every item with facts in [start, end): (content_id, its figure, its point), by the figure
        descending, then content_id."""
        rows = await self._repo().grouped({}, Granularity.ALL_TIME, start, end, by="content_id")
        score: dict[str, Callable[[Point], float]] = {
            "POTENTIAL_REACH": lambda p: p.potential_reach,
            "ENGAGEMENTS": lambda p: p.engagements,
            "EARNED_MEDIA_VALUE": lambda p: p.earned_media_value,
        }
        points = [(content_id, point(by_leader, self.config, None)) for (_, content_id), by_leader in rows.items()]
        ranked = [(content_id, score[metric](p), p) for content_id, p in points]
        ranked.sort(key=lambda r: (-r[1], r[0]))
        return ranked

    async def titled(self, ranked: list[tuple[str, float, Point]]) -> list[tuple[str, str, Point]]:
        """The items of a page of the ranking with their titles (read by `_id`, all at once)."""
        states = await asyncio.gather(*(self._repo().content(content_id) for content_id, _, _ in ranked))
        return [(c, state.title if state else "", p) for (c, _, p), state in zip(ranked, states, strict=True)]

    async def overview(self, start: datetime | None, end: datetime | None) -> tuple[Point, int]:
        """The program in [start, end): its totals (adoption, amplification, leader participation),
        and the company-channel audience its amplification ratio is taken over."""
        rows = await self._repo().grouped({}, Granularity.ALL_TIME, start, end)
        by_leader = rows.get((None, ""), {})
        members = enrolled(await self._repo().all_advocates(), start, end)
        company = m.company_channels(self.config.company_channel_audience)  # amplification's denominator
        return point(by_leader, self.config, None, adoption_base=members), company

    async def by_origin(self, start: datetime | None, end: datetime | None) -> dict[str, Point]:
        """The program in [start, end) split by origin: "company" (shares of company items) and
        "own" (advocates' own posts), each a point even when empty, with no adoption (a program figure)."""
        rows = await self._repo().grouped({}, Granularity.ALL_TIME, start, end, by="post_origin")
        return {origin: point(rows.get((None, origin), {}), self.config, None) for origin in ORIGINS}

    async def comments(
        self, content_id: str, requester_id: str, limit: int, after: tuple[datetime, str] | None = None
    ) -> list[Comment]:
        content = await self._repo().content(content_id)
        if content is None:
            raise UnknownContent(content_id)
        if content.author_id != requester_id:
            raise NotAuthor(content_id)
        return await self._repo().comments(content_id, limit, after)
