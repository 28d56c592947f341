"""What the analytics use cases need from the fact store, as protocols: the MongoDB repository
implements them in production, in-memory fakes in unit tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.analytics.domain.audience import AudienceRule
from services.analytics.domain.metrics import Group
from services.analytics.domain.report import Member
from services.analytics.domain.windows import Granularity

# Dimension name -> fact field it groups by (PROGRAM: every fact).
DIMENSION_FIELDS = {
    "CONTENT": "content_id",
    "ADVOCATE": "advocate_id",
    "TEAM": "team",
    "CAMPAIGN": "campaign_id",
    "NETWORK": "network",
    # "company" or "own" (domain/fact.py).
    "ORIGIN": "post_origin",
    "PROGRAM": None,
}

# (window start, `by` field value) -> leader flag -> the group's totals and sharers.
Grouped = dict[tuple[datetime | None, str], dict[bool, Group]]


@dataclass(frozen=True)
class ContentState:
    content_id: str
    author_id: str
    campaign_id: str
    title: str
    audience: AudienceRule


@dataclass(frozen=True)
class Comment:
    event_id: str
    share_id: str
    advocate_id: str
    network: str
    text: str
    occurred_at: datetime


class FactReader(Protocol):
    """The read side: facts grouped on request, latest advocate and content states by `_id`."""

    async def grouped(
        self,
        match: Mapping[str, Any],
        granularity: Granularity,
        start: datetime | None,
        end: datetime | None,
        by: str | None = None,
    ) -> Grouped: ...

    async def all_advocates(self) -> list[Member]: ...

    async def content(self, content_id: str) -> ContentState | None: ...

    async def time_bounds(
        self, match: Mapping[str, Any], start: datetime | None, end: datetime | None
    ) -> tuple[datetime, datetime] | None: ...

    async def comments(
        self, content_id: str, limit: int, after: tuple[datetime, str] | None = None
    ) -> list[Comment]: ...


class FactWriter(Protocol):
    """The write side, every call idempotent: first claims win, a fact's `_id` is its event id,
    a state older than the stored one changes nothing."""

    async def claim_clicks(self, claims: list[tuple[str, str]]) -> dict[str, str]: ...

    async def claim_reach(self, claims: list[tuple[str, str]]) -> dict[str, str]: ...

    async def record_facts(self, docs: list[dict[str, Any]]) -> list[bool]: ...

    async def origins(self, claims: list[tuple[str, str]]) -> dict[str, str]: ...

    async def upsert_advocate(self, state: Member, version_at: datetime) -> bool: ...

    async def upsert_content(self, state: ContentState, version_at: datetime) -> bool: ...
