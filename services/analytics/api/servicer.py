"""gRPC AnalyticsService: figures read from the materialized facts in MongoDB (never worker memory)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import grpc
from advocacy.analytics.v1 import analytics_pb2 as pb
from advocacy.analytics.v1 import analytics_pb2_grpc
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_interceptor.exceptions import InvalidArgument, NotFound, PermissionDenied

from services.analytics.api.health import HealthApi
from services.analytics.api.rate_card import RateCardApi
from services.analytics.app.health import HealthQueries
from services.analytics.app.queries import AnalyticsQueries, NotAuthor, SeriesRange, UnknownContent
from services.analytics.app.rate_cards import RateCards
from services.analytics.domain.fact import COMPANY, ORIGINS, OWN
from services.analytics.domain.metrics import RateBasis, ratio
from services.analytics.domain.rate_card import VersionedRateCard
from services.analytics.domain.report import Point, to_csv
from services.analytics.domain.windows import Granularity
from services.common import paging
from services.common.events import nonzero_time, to_timestamp
from services.common.read_cache import ReadCache
from services.common.validation import check_request_id

_GRANULARITY = {
    pb.GRANULARITY_HOUR: Granularity.HOUR,
    pb.GRANULARITY_DAY: Granularity.DAY,
    pb.GRANULARITY_ALL_TIME: Granularity.ALL_TIME,
}
# GetStats / ExportStatsCsv without a granularity: a daily series (the proto says so).
DEFAULT_GRANULARITY = pb.GRANULARITY_DAY
_BASIS = {
    RateBasis.IMPRESSIONS: pb.RATE_BASIS_IMPRESSIONS,
    RateBasis.POTENTIAL_REACH: pb.RATE_BASIS_POTENTIAL_REACH,
    RateBasis.NONE: pb.RATE_BASIS_NONE,
}
# Paged series: windows per page (page_size 0 with a page_token: the default).
DEFAULT_WINDOWS, MAX_WINDOWS = 100, 1000
TOP_DEFAULT, TOP_MAX = 10, 100
COMMENTS_DEFAULT, COMMENTS_MAX = 100, 1000
_OPTIONAL = ("engagement_rate", "ctr", "amplification_ratio", "adoption", "share_rate", "leader_participation")


def _time(ts: Timestamp, name: str) -> datetime | None:
    try:
        return nonzero_time(ts)
    except ValueError as exc:
        raise InvalidArgument(f"{name}: {exc}") from exc


def _range(start: Timestamp, end: Timestamp) -> tuple[datetime | None, datetime | None]:
    s, e = _time(start, "start"), _time(end, "end")
    if s and e and s >= e:
        raise InvalidArgument("end: must be after start")
    return s, e


def point_pb(p: Point) -> pb.StatsPoint:
    out = pb.StatsPoint(
        shares=p.shares,
        distinct_sharers=p.distinct_sharers,
        potential_reach=p.potential_reach,
        impressions_reported=p.impressions_reported,
        impressions_estimated=p.impressions_estimated,
        unique_clicks=p.unique_clicks,
        reactions=p.reactions,
        comments=p.comments,
        reshares=p.reshares,
        engagements=p.engagements,
        engagement_rate_basis=_BASIS[p.engagement_rate_basis],
        earned_media_value=p.earned_media_value,
        active_advocates=p.active_advocates,
        enrolled_advocates=p.enrolled_advocates,
        leader_potential_reach=p.leader_potential_reach,
        non_leader_potential_reach=p.non_leader_potential_reach,
        leader_engagements=p.leader_engagements,
        non_leader_engagements=p.non_leader_engagements,
        active_leaders=p.active_leaders,
        enrolled_leaders=p.enrolled_leaders,
    )
    if p.window_start is not None:
        out.window_start.CopyFrom(to_timestamp(p.window_start))
    for name in _OPTIONAL:
        value = getattr(p, name)
        if value is not None:
            setattr(out, name, value)
    return out


@dataclass(frozen=True)
class SeriesQuery:
    dimension: str
    key: str
    granularity: Granularity
    asked: pb.Granularity  # the granularity the response names
    start: datetime | None
    end: datetime | None

    def scope(self) -> str:
        """What a page token of this series belongs to."""
        return f"stats|{self.dimension}|{self.key}|{self.granularity}|{self.start}|{self.end}"


@dataclass(frozen=True)
class SeriesAnswer:
    points: list[Point]
    granularity: pb.Granularity
    card: VersionedRateCard  # the rate card its EMV is priced with
    next_page_token: str = ""
    total_windows: int = 0


def series_query(request: pb.GetStatsRequest) -> SeriesQuery:
    if request.dimension == pb.DIMENSION_UNSPECIFIED or request.dimension not in pb.Dimension.values():
        raise InvalidArgument("dimension: required")
    dimension = pb.Dimension.Name(request.dimension).removeprefix("DIMENSION_")
    if dimension != "PROGRAM":
        check_request_id(request.key, "key")
    if dimension == "ORIGIN" and request.key not in ORIGINS:
        raise InvalidArgument(f"key: an ORIGIN key is one of {', '.join(ORIGINS)}")
    asked = request.granularity or DEFAULT_GRANULARITY
    if asked not in _GRANULARITY:
        raise InvalidArgument(f"granularity: unknown value {request.granularity}")
    start, end = _range(request.start, request.end)
    key = request.key if dimension != "PROGRAM" else ""
    return SeriesQuery(dimension, key, _GRANULARITY[asked], asked, start, end)


def _series_range(token: str, scope: str) -> SeriesRange:
    first, end, page_from = paging.decode_token(token, (datetime, datetime, datetime), scope)
    if not first <= page_from < end:
        raise InvalidArgument(paging.NOT_ISSUED)
    return SeriesRange(first, end, page_from)


class AnalyticsServicer(RateCardApi, HealthApi, analytics_pb2_grpc.AnalyticsServiceServicer):
    """Figures are summed from the facts per query; `cache` (off unless given) keeps each query's
    result for a few seconds, so a dashboard's repeated questions do not rescan the facts.
    Comments are never cached: an author reads them right after they arrive. EMV is priced with
    the rate card in force (`rate_cards`), whose version is part of every cached query's key."""

    def __init__(
        self,
        queries: AnalyticsQueries,
        cache: ReadCache[Any] | None = None,
        *,
        rate_cards: RateCards,
        health: HealthQueries | None = None,
    ) -> None:
        self._queries = queries
        self._health = health
        self._cache = cache or ReadCache[Any](ttl=0)
        self._rate_cards = rate_cards

    async def GetContentStats(
        self, request: pb.GetContentStatsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ContentStats:
        check_request_id(request.content_id, "content_id")
        content_id = request.content_id
        shares, sharers, reach = await self._cache.get(
            ("content", content_id), lambda: self._queries.content_stats(content_id)
        )
        return pb.ContentStats(
            content_id=request.content_id, shares=shares, distinct_sharers=sharers, potential_reach=reach
        )

    async def _series(self, request: pb.GetStatsRequest) -> SeriesAnswer:
        """The points asked for (a page when page_size or page_token is set, for HOUR and DAY), the
        granularity they are in (the default when unset) and the rate card their EMV is priced with."""
        q = series_query(request)
        card = await self._rate_cards.in_force()
        queries = self._queries.priced(card)
        if not (request.page_size or request.page_token) or q.granularity is Granularity.ALL_TIME:
            points = await self._cache.get(
                ("series", q.dimension, q.key, q.granularity, q.start, q.end, card.version),
                lambda: queries.series(q.dimension, q.key, q.granularity, q.start, q.end),
            )
            return SeriesAnswer(cast(list[Point], points), q.asked, card)
        size = paging.page_size(request.page_size, DEFAULT_WINDOWS, MAX_WINDOWS)
        if request.page_token:
            at: SeriesRange | None = _series_range(request.page_token, q.scope())
        else:
            at = await queries.first_range(q.dimension, q.key, q.granularity, q.start, q.end)
        if at is None:  # an open bound and no fact at all
            return SeriesAnswer([], q.asked, card)
        page = await queries.series_page(q.dimension, q.key, q.granularity, (q.start, q.end), at, size)
        n = page.next
        token = paging.encode_token([n.first_window, n.end, n.page_from], q.scope()) if n else ""
        return SeriesAnswer(page.points, q.asked, card, token, page.total_windows)

    async def GetStats(self, request: pb.GetStatsRequest, context: grpc.aio.ServicerContext) -> pb.StatsSeries:
        answer = await self._series(request)
        return pb.StatsSeries(
            dimension=request.dimension,
            key=request.key,
            granularity=answer.granularity,
            currency=answer.card.currency,
            points=[point_pb(p) for p in answer.points],
            rate_card_version=answer.card.version,
            next_page_token=answer.next_page_token,
            total_windows=answer.total_windows,
        )

    async def ExportStatsCsv(self, request: pb.GetStatsRequest, context: grpc.aio.ServicerContext) -> pb.CsvExport:
        answer = await self._series(request)
        card = answer.card
        dim = pb.Dimension.Name(request.dimension).removeprefix("DIMENSION_").lower()
        gran = pb.Granularity.Name(answer.granularity).removeprefix("GRANULARITY_").lower()
        safe_key = "".join(c if c.isalnum() or c in "-_" else "_" for c in request.key)[:64]
        filename = f"advocacy-{dim}-{safe_key or 'all'}-{gran}-{card.currency}.csv"
        return pb.CsvExport(
            filename=filename,
            # The pages' texts concatenated are one file: the header comes with the first page only.
            csv=to_csv(
                answer.points, currency=card.currency, rate_card_version=card.version, header=not request.page_token
            ),
            currency=card.currency,
            rate_card_version=card.version,
            next_page_token=answer.next_page_token,
            total_windows=answer.total_windows,
        )

    async def TopContent(
        self, request: pb.TopContentRequest, context: grpc.aio.ServicerContext
    ) -> pb.TopContentResponse:
        if request.metric == pb.TOP_METRIC_UNSPECIFIED or request.metric not in pb.TopMetric.values():
            raise InvalidArgument("metric: required")
        limit = paging.page_size(request.limit, TOP_DEFAULT, TOP_MAX, field="limit")
        size = paging.page_size(request.page_size, limit, TOP_MAX)
        start, end = _range(request.start, request.end)
        metric = pb.TopMetric.Name(request.metric).removeprefix("TOP_METRIC_")
        scope = f"top|{metric}|{start}|{end}"
        card = await self._rate_cards.in_force()
        queries = self._queries.priced(card)
        ranked = cast(
            list[tuple[str, float, Point]],
            await self._cache.get(
                ("top", metric, start, end, card.version), lambda: queries.ranking(metric, start, end)
            ),
        )
        if request.page_token:
            score, content_id = paging.decode_token(request.page_token, (float, str), scope)
            ranked = [r for r in ranked if (-r[1], r[0]) > (-score, content_id)]
        page, token = paging.trim(ranked[: size + 1], size, lambda r: (r[1], r[0]), scope)
        rows = await self._queries.titled(page)
        return pb.TopContentResponse(
            currency=card.currency,
            entries=[pb.TopContentEntry(content_id=c, title=title, stats=point_pb(p)) for c, title, p in rows],
            rate_card_version=card.version,
            next_page_token=token,
        )

    async def GetProgramOverview(
        self, request: pb.GetProgramOverviewRequest, context: grpc.aio.ServicerContext
    ) -> pb.ProgramOverview:
        start, end = _range(request.start, request.end)
        card = await self._rate_cards.in_force()
        queries = self._queries.priced(card)
        totals, company = await self._cache.get(
            ("overview", start, end, card.version), lambda: queries.overview(start, end)
        )
        origins = await self._cache.get(("origins", start, end, card.version), lambda: queries.by_origin(start, end))
        out = pb.ProgramOverview(
            currency=card.currency,
            rate_card_version=card.version,
            active_advocates=totals.active_advocates,
            enrolled_advocates=totals.enrolled_advocates,
            employee_potential_reach=totals.potential_reach,
            company_channel_audience=company,
            active_leaders=totals.active_leaders,
            enrolled_leaders=totals.enrolled_leaders,
            leader_potential_reach=totals.leader_potential_reach,
            non_leader_potential_reach=totals.non_leader_potential_reach,
            leader_engagements=totals.leader_engagements,
            non_leader_engagements=totals.non_leader_engagements,
            totals=point_pb(totals),
            company_items=point_pb(origins[COMPANY]),
            own_posts=point_pb(origins[OWN]),
        )
        own_share = ratio(origins[OWN].potential_reach, totals.potential_reach)
        if own_share is not None:
            out.own_post_reach_share = own_share
        for name in ("adoption", "amplification_ratio", "leader_participation"):
            value = getattr(totals, name)
            if value is not None:
                setattr(out, name, value)
        return out

    async def ListComments(
        self, request: pb.ListCommentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListCommentsResponse:
        check_request_id(request.content_id, "content_id")
        check_request_id(request.requester_id, "requester_id")
        limit = paging.page_size(request.limit, COMMENTS_DEFAULT, COMMENTS_MAX, field="limit")
        size = paging.page_size(request.page_size, limit, COMMENTS_MAX)
        scope = f"comments|{request.content_id}"
        after = None
        if request.page_token:
            at, event_id = paging.decode_token(request.page_token, (datetime, str), scope)
            after = (at, event_id)
        try:
            found = await self._queries.comments(request.content_id, request.requester_id, size + 1, after)
        except UnknownContent as exc:
            raise NotFound(f"content_id: no published item {request.content_id}") from exc
        except NotAuthor as exc:
            raise PermissionDenied("requester_id: only the item's author may read its comments") from exc
        comments, token = paging.trim(found, size, lambda c: (c.occurred_at, c.event_id), scope)
        return pb.ListCommentsResponse(
            next_page_token=token,
            comments=[
                pb.CustomerComment(
                    event_id=c.event_id,
                    share_id=c.share_id,
                    advocate_id=c.advocate_id,
                    network=c.network,
                    text=c.text,
                    occurred_at=to_timestamp(c.occurred_at),
                )
                for c in comments
            ],
        )
