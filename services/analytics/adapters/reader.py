"""The read side the queries use (`ports.FactReader`): figures from the rollup documents, advocate
and content states and comments from their collections."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.analytics.adapters.facts import AnalyticsRepository
from services.analytics.adapters.rollups import RollupDocuments
from services.analytics.app.ports import Comment, ContentState, Grouped
from services.analytics.domain.report import Member
from services.analytics.domain.windows import Granularity


class AnalyticsReader:
    def __init__(self, repo: AnalyticsRepository, rollups: RollupDocuments) -> None:
        self._repo = repo
        self._rollups = rollups

    async def grouped(
        self,
        match: Mapping[str, Any],
        granularity: Granularity,
        start: datetime | None,
        end: datetime | None,
        by: str | None = None,
    ) -> Grouped:
        return await self._rollups.grouped(match, granularity, start, end, by)

    async def time_bounds(
        self, match: Mapping[str, Any], start: datetime | None, end: datetime | None
    ) -> tuple[datetime, datetime] | None:
        return await self._rollups.time_bounds(match, start, end)

    async def all_advocates(self) -> list[Member]:
        return await self._repo.all_advocates()

    async def content(self, content_id: str) -> ContentState | None:
        return await self._repo.content(content_id)

    async def comments(self, content_id: str, limit: int, after: tuple[datetime, str] | None = None) -> list[Comment]:
        return await self._repo.comments(content_id, limit, after)
