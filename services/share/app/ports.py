"""What the share service's use cases need from the outside world, as protocols: the MongoDB
adapters implement them in production, in-memory fakes in unit tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from advocacy.common.v1.common_pb2 import AdvocateSnapshot
from advocacy.content.v1.content_pb2 import ContentItem
from advocacy.share.v1.share_pb2 import Advocate, Share

from services.common.outbox import OutboxEvent

# (document id, its outbox as written): the relay sends that without reading it back.
Notify = Callable[[str, list[dict[str, Any]]], None]


@dataclass(frozen=True)
class TrackedShare:
    """What a click or an engagement report needs of a share (immutable once written)."""

    share_id: str
    content_id: str
    advocate_id: str
    network: int
    campaign_id: str
    target_url: str
    sharer_fingerprint: str
    advocate: AdvocateSnapshot
    own_post: bool = False  # an advocate's own post: its engagement events say so


@dataclass(frozen=True)
class EngagementRecord:
    record_id: str  # (source, source event id): the idempotency of a report
    share_id: str
    event_id: str
    outbox: list[dict[str, Any]]


@dataclass(frozen=True)
class ListedShare:
    share: Share
    position: tuple[datetime, str]  # (shared_at, _id) as stored: the key the next page starts after


# The field a share list is by.
ShareField = Literal["advocate_id", "content_id"]


class ContentUnavailable(Exception):
    """The content service could not be asked (and the local view could not answer)."""


class ContentReader(Protocol):
    async def get(self, content_id: str) -> ContentItem | None: ...


class PrerequisiteSource(Protocol):
    async def prerequisites(self, campaign_id: str) -> Sequence[str]:
        """The lessons the campaign requires; raises ContentUnavailable."""
        ...


class PrerequisiteReader(Protocol):
    async def required(self, campaign_id: str) -> Sequence[str]:
        """The lessons the campaign requires (empty: none); raises ContentUnavailable."""
        ...


class CompletionReader(Protocol):
    def missing(self, advocate_id: str, lesson_ids: Sequence[str]) -> list[str]:
        """Those of `lesson_ids` the advocate has not completed, as far as this view knows."""
        ...

    @property
    def current(self) -> bool: ...

    async def caught_up(self, asked_at: float) -> bool:
        """Waits briefly until the view holds what its topic held at `asked_at` (wall clock)."""
        ...


class AdvocateReader(Protocol):
    async def get(self, advocate_id: str) -> Advocate | None: ...


class AdvocateStore(AdvocateReader, Protocol):
    async def save(self, advocate: Advocate, event: OutboxEvent) -> bool:
        """Stores the next version with its event; False when a concurrent change of the same
        version was stored first (compare-and-set)."""
        ...


class ShareStore(Protocol):
    async def get(self, share_id: str) -> Share | None: ...

    async def insert(
        self, share: Share, advocate: AdvocateSnapshot, sharer_fingerprint: str, events: list[OutboxEvent]
    ) -> tuple[Share, list[dict[str, Any]] | None]: ...


class ShareLists(Protocol):
    async def listed(
        self, field: ShareField, value: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[ListedShare]:
        """Up to `limit` of the shares with `field` = `value`, newest first on (shared_at, _id),
        those after the position `after`."""
        ...


class TrackedShares(Protocol):
    async def by_id(self, share_id: str) -> TrackedShare | None: ...


class EngagementStore(Protocol):
    async def insert_many(self, records: list[EngagementRecord]) -> list[tuple[str, bool]]: ...


class ClickWindows(Protocol):
    async def open_window(
        self, share_id: str, actor_fingerprint: str, now: datetime, window: timedelta, event: OutboxEvent
    ) -> tuple[str, list[dict[str, Any]]] | None: ...
