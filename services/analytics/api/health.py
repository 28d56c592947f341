"""GetProgramHealth / ExportHealthCsv / GetTrainingStats (staff, services/common/policy.py):
translation to and from the health queries; part of AnalyticsServicer."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

import grpc
from advocacy.analytics.v1 import analytics_pb2 as pb
from grpc_interceptor.exceptions import InvalidArgument

from services.analytics.app.health import HealthQueries
from services.analytics.domain.health import month_of, months_after
from services.analytics.domain.health_figures import BUCKET_LABELS, ProgramHealth, add_month, health_csv
from services.common.events import utcnow
from services.common.validation import check_request_id

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
DEFAULT_MONTHS, MAX_MONTHS = 12, 60


def _month(value: str, name: str) -> str:
    if not MONTH.match(value) or value < "0001-01":
        raise InvalidArgument(f"{name}: a month as YYYY-MM (e.g. 2026-03), got {value[:20]!r}")
    return value


def health_range(request: pb.GetProgramHealthRequest, now: datetime) -> tuple[str, str, str]:
    """(team, from_month, to_month) of a request, checked; INVALID_ARGUMENT naming the field."""
    team = check_request_id(request.team, "team", optional=True) if request.team else ""
    last = _month(request.to_month, "to_month") if request.to_month else month_of(now)
    if request.from_month:
        first = _month(request.from_month, "from_month")
    elif last >= "0001-12":
        first = add_month(last, 1 - DEFAULT_MONTHS)
    else:
        first = "0001-01"
    if first > last:
        raise InvalidArgument("from_month: must not be after to_month")
    if months_after(first, last) >= MAX_MONTHS:
        raise InvalidArgument(f"from_month: at most {MAX_MONTHS} months up to to_month")
    return team, first, last


def health_pb(health: ProgramHealth) -> pb.ProgramHealth:
    out = pb.ProgramHealth(
        team=health.team, from_month=health.first, to_month=health.last, bucket_labels=list(BUCKET_LABELS)
    )
    for c in health.cohorts:
        row = out.cohorts.add(month=c.month, enrolled=c.enrolled, shared=c.shared, retained=list(c.retained))
        row.retention.extend(r or 0.0 for r in c.retention)  # enrolled > 0 in every row
        if c.median_days is not None:
            row.median_days_to_first_share = c.median_days
        if c.p90_days is not None:
            row.p90_days_to_first_share = c.p90_days
    for a in health.activity:
        out.activity.add(
            month=a.month,
            shares=a.shares,
            active_advocates=a.active,
            advocates_per_bucket=list(a.buckets),
            top_decile_share=a.top_decile_share or 0.0,
            leader_shares=a.leader_shares,
            active_leaders=a.leaders_active,
            leader_share_of_shares=a.leader_share_of_shares or 0.0,
            leader_share_of_active=a.leader_share_of_active or 0.0,
        )
    return out


class HealthApi:
    """Figures from the health documents (no cache: a question reads at most 2 x 8 documents per
    month asked, by `_id`)."""

    _health: HealthQueries | None
    _clock: Callable[[], datetime] = staticmethod(utcnow)

    def _health_queries(self) -> HealthQueries:
        if self._health is None:
            raise RuntimeError("AnalyticsServicer built without health queries")
        return self._health

    async def _program_health(self, request: pb.GetProgramHealthRequest) -> ProgramHealth:
        team, first, last = health_range(request, self._clock())
        return await self._health_queries().program_health(team, first, last)

    async def GetProgramHealth(
        self, request: pb.GetProgramHealthRequest, context: grpc.aio.ServicerContext
    ) -> pb.ProgramHealth:
        return health_pb(await self._program_health(request))

    async def ExportHealthCsv(
        self, request: pb.GetProgramHealthRequest, context: grpc.aio.ServicerContext
    ) -> pb.CsvExport:
        health = await self._program_health(request)
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in health.team)[:64]
        filename = f"advocacy-health-{safe or 'all'}-{health.first}-{health.last}.csv"
        return pb.CsvExport(filename=filename, csv=health_csv(health))

    async def GetTrainingStats(
        self, request: pb.GetTrainingStatsRequest, context: grpc.aio.ServicerContext
    ) -> pb.TrainingStats:
        team = check_request_id(request.team, "team", optional=True) if request.team else ""
        rows = await self._health_queries().training(team)
        out = pb.TrainingStats()
        for r in rows:
            row = out.lessons.add(
                lesson_id=r.lesson_id,
                lesson_title=r.title,
                team=r.team,
                completions=r.completions,
                completers_enrolled=r.completers_enrolled,
                enrolled=r.enrolled,
            )
            if r.completion_rate is not None:
                row.completion_rate = r.completion_rate
        return out
