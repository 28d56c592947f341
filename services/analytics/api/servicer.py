"""gRPC AnalyticsService: figures read from the materialized facts in MongoDB (never worker memory)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

import grpc
from advocacy.analytics.v1 import analytics_pb2 as pb
from advocacy.analytics.v1 import analytics_pb2_grpc
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_interceptor.exceptions import InvalidArgument, NotFound, PermissionDenied

from services.analytics.adapters.facts import AnalyticsRepository
from services.analytics.api.rate_card import RateCardApi
from services.analytics.app.rate_cards import RateCards
from services.analytics.domain.metrics import RateBasis
from services.analytics.domain.rate_card import VersionedRateCard
from services.analytics.domain.report import Point, to_csv
from services.analytics.domain.windows import Granularity
from services.analytics.queries import AnalyticsQueries, NotAuthor, UnknownContent
from services.common.events import from_timestamp, to_timestamp
from services.common.read_cache import ReadCache

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
_OPTIONAL = ("engagement_rate", "ctr", "amplification_ratio", "adoption", "share_rate", "leader_participation")


def _time(ts: Timestamp, name: str) -> datetime | None:
    if not ts.seconds and not ts.nanos:
        return None
    try:
        return from_timestamp(ts)
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


class AnalyticsServicer(RateCardApi, analytics_pb2_grpc.AnalyticsServiceServicer):
    """Figures are summed from the facts per query; `cache` (off unless given) keeps each query's
    result for a few seconds, so a dashboard's repeated questions do not rescan the facts.
    Comments are never cached: an author reads them right after they arrive. EMV is priced with
    the rate card in force (`rate_cards`), whose version is part of every cached query's key."""

    def __init__(
        self,
        repo: Callable[[], AnalyticsRepository],
        queries: AnalyticsQueries,
        cache: ReadCache[Any] | None = None,
        *,
        rate_cards: RateCards,
    ) -> None:
        self._repo = repo
        self._queries = queries
        self._cache = cache or ReadCache[Any](ttl=0)
        self._rate_cards = rate_cards

    async def GetContentStats(
        self, request: pb.GetContentStatsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ContentStats:
        if not request.content_id or len(request.content_id) > 128:
            raise InvalidArgument("content_id: must be 1..128 characters")
        content_id = request.content_id
        shares, sharers, reach = await self._cache.get(
            ("content", content_id), lambda: self._repo().content_stats(content_id)
        )
        return pb.ContentStats(
            content_id=request.content_id, shares=shares, distinct_sharers=sharers, potential_reach=reach
        )

    async def _series(self, request: pb.GetStatsRequest) -> tuple[list[Point], int, VersionedRateCard]:
        """The points asked for, the granularity they are in (the default when unset) and the rate
        card their EMV is priced with."""
        if request.dimension == pb.DIMENSION_UNSPECIFIED or request.dimension not in pb.Dimension.values():
            raise InvalidArgument("dimension: required")
        dimension = pb.Dimension.Name(request.dimension).removeprefix("DIMENSION_")
        if dimension != "PROGRAM" and (not request.key or len(request.key) > 128):
            raise InvalidArgument("key: must be 1..128 characters")
        asked = request.granularity or DEFAULT_GRANULARITY
        if asked not in _GRANULARITY:
            raise InvalidArgument(f"granularity: unknown value {request.granularity}")
        start, end = _range(request.start, request.end)
        key = request.key if dimension != "PROGRAM" else ""
        granularity = _GRANULARITY[asked]
        card = await self._rate_cards.in_force()
        queries = self._queries.priced(card)
        points = await self._cache.get(
            ("series", dimension, key, granularity, start, end, card.version),
            lambda: queries.series(dimension, key, granularity, start, end),
        )
        return cast(list[Point], points), asked, card

    async def GetStats(self, request: pb.GetStatsRequest, context: grpc.aio.ServicerContext) -> pb.StatsSeries:
        points, granularity, card = await self._series(request)
        return pb.StatsSeries(
            dimension=request.dimension,
            key=request.key,
            granularity=granularity,
            currency=card.currency,
            points=[point_pb(p) for p in points],
            rate_card_version=card.version,
        )

    async def ExportStatsCsv(self, request: pb.GetStatsRequest, context: grpc.aio.ServicerContext) -> pb.CsvExport:
        points, granularity, card = await self._series(request)
        dim = pb.Dimension.Name(request.dimension).removeprefix("DIMENSION_").lower()
        gran = pb.Granularity.Name(granularity).removeprefix("GRANULARITY_").lower()
        safe_key = "".join(c if c.isalnum() or c in "-_" else "_" for c in request.key)[:64]
        filename = f"advocacy-{dim}-{safe_key or 'all'}-{gran}-{card.currency}.csv"
        return pb.CsvExport(
            filename=filename,
            csv=to_csv(points, currency=card.currency, rate_card_version=card.version),
            currency=card.currency,
            rate_card_version=card.version,
        )

    async def TopContent(
        self, request: pb.TopContentRequest, context: grpc.aio.ServicerContext
    ) -> pb.TopContentResponse:
        if request.metric == pb.TOP_METRIC_UNSPECIFIED or request.metric not in pb.TopMetric.values():
            raise InvalidArgument("metric: required")
        limit = request.limit or 10
        if not 1 <= limit <= 100:
            raise InvalidArgument("limit: must be 1..100")
        start, end = _range(request.start, request.end)
        metric = pb.TopMetric.Name(request.metric).removeprefix("TOP_METRIC_")
        card = await self._rate_cards.in_force()
        queries = self._queries.priced(card)
        rows = await self._cache.get(
            ("top", metric, start, end, limit, card.version), lambda: queries.top_content(metric, start, end, limit)
        )
        return pb.TopContentResponse(
            currency=card.currency,
            entries=[pb.TopContentEntry(content_id=c, title=title, stats=point_pb(p)) for c, title, p in rows],
            rate_card_version=card.version,
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
        )
        for name in ("adoption", "amplification_ratio", "leader_participation"):
            value = getattr(totals, name)
            if value is not None:
                setattr(out, name, value)
        return out

    async def ListComments(
        self, request: pb.ListCommentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListCommentsResponse:
        if not request.content_id or len(request.content_id) > 128:
            raise InvalidArgument("content_id: must be 1..128 characters")
        if not request.requester_id or len(request.requester_id) > 128:
            raise InvalidArgument("requester_id: must be 1..128 characters")
        limit = request.limit or 100
        if not 1 <= limit <= 1000:
            raise InvalidArgument("limit: must be 1..1000")
        try:
            comments = await self._queries.comments(request.content_id, request.requester_id, limit)
        except UnknownContent as exc:
            raise NotFound(f"content_id: no published item {request.content_id}") from exc
        except NotAuthor as exc:
            raise PermissionDenied("requester_id: only the item's author may read its comments") from exc
        return pb.ListCommentsResponse(
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
            ]
        )
