"""What the content use cases need from the outside world (adapters implement these; unit tests fake them)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from advocacy.content.v1.content_pb2 import ContentItem, FeedSource, LinkPreview, SourceStatus
from advocacy.content.v1.training_pb2 import CampaignPrerequisites, Lesson

from services.common.outbox import OutboxEvent
from services.content.domain.feed import Viewer
from services.content.domain.sources import FeedEntry

# An item's change was recorded with events in its outbox: send them now rather than at the next sweep.
OutboxWritten = Callable[[ContentItem], None]
# Parses a feed document (body, its final URL, its Content-Type) into entries, newest first.
ParseFeed = Callable[[bytes, str, str], list[FeedEntry]]


class ItemExists(Exception):
    """An item with that id exists already (inserting is how feed entries are de-duplicated)."""


class ContentEventFactory(Protocol):
    def published(self, item: ContentItem, kind: int, now: datetime, imported: bool = False) -> OutboxEvent:
        """The `content-published` event of `kind` announcing `item` (`imported`: migrated history)."""
        ...


class Response(Protocol):
    @property
    def status(self) -> int: ...
    @property
    def url(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def body(self) -> bytes: ...


class Fetcher(Protocol):
    async def get(self, url: str, max_bytes: int, headers: Mapping[str, str] | None = None) -> Response:
        """Raises an exception with a `kind` attribute (a bounded label) when nothing usable came back."""
        ...


class ItemReader(Protocol):
    async def get(self, content_id: str) -> ContentItem | None: ...


class ItemLists(Protocol):
    async def list_items(self, status: int, after_id: str | None, limit: int) -> list[ContentItem]:
        """Up to `limit` items of `status` (0: any), by content id descending, those below `after_id`."""
        ...


class Items(ItemReader, Protocol):
    async def insert(self, item: ContentItem) -> None:
        """Raises ItemExists when an item with that id exists."""
        ...

    async def replace(
        self, item: ContentItem, expected_version: int, events: list[OutboxEvent], expected_status: int | None = None
    ) -> bool: ...


class ImportedItems(ItemReader, Protocol):
    async def insert_recorded(self, item: ContentItem, events: list[OutboxEvent]) -> bool:
        """Records a new item (version 1) with its events; False when its id was recorded before
        (nothing is written but what that earlier write may have left unfinished)."""
        ...


class ScheduledItems(Items, Protocol):
    async def due(self, now: datetime) -> list[ContentItem]:
        """Approved items whose publish time or expiry passed, published items whose expiry passed."""
        ...

    async def repair(self, now: datetime, settle: timedelta, window: timedelta) -> int:
        """Finishes changes whose writer died half way; how many it finished."""
        ...


class Sources(Protocol):
    async def configs(self) -> list[FeedSource]: ...
    async def status(self, source_id: str) -> tuple[SourceStatus, str]: ...
    async def save_status(self, source_id: str, status: SourceStatus, claim_id: str) -> None: ...
    async def claim(self, claim_id: str, now: datetime) -> bool: ...
    async def release(self, claim_id: str) -> None: ...


class Previews(Protocol):
    async def claim(self, url: str, now: datetime, stale_after: timedelta) -> bool: ...
    async def save(self, url: str, preview: LinkPreview | None, error: str = "") -> None: ...
    async def get(self, url: str) -> tuple[str, LinkPreview | None]: ...


class FeedCandidates(Protocol):
    async def feed_candidates(self, dimension_values: dict[str, str], now: datetime) -> list[ContentItem]:
        """Published, unexpired items whose audience includes these values (or everyone)."""
        ...


class Viewers(Protocol):
    """Advocates and what they shared, as the content service keeps them from the share topics."""

    async def viewer(self, advocate_id: str) -> Viewer | None: ...
    async def shared_content_ids(self, advocate_id: str, content_ids: list[str]) -> set[str]: ...


# --- training ---------------------------------------------------------------------------------


class LessonStore(Protocol):
    async def get(self, lesson_id: str) -> Lesson | None: ...
    async def insert(self, lesson: Lesson) -> None: ...
    async def replace(self, lesson: Lesson, expected_version: int) -> bool:
        """Records `lesson` (version expected_version + 1) unless another writer recorded that
        version first (then False)."""
        ...

    async def list_lessons(self, status: int, after_id: str | None, limit: int) -> list[Lesson]:
        """Up to `limit` lessons of `status` (0: any), by lesson id descending, those below `after_id`."""
        ...

    async def published_ids(self) -> list[str]:
        """The published-lessons index: a superset of the published lessons' ids."""
        ...

    async def index(self, lesson_id: str, published: bool, limit: int) -> bool:
        """Adds the id to (or removes it from) the index; False when adding would exceed `limit`."""
        ...


@dataclass(frozen=True)
class Attempts:
    """An advocate's submissions on one lesson."""

    attempts: int
    last_score: int
    best_score: int


@dataclass(frozen=True)
class Completion:
    completed_at: datetime
    score: int
    attempts: int


class ProgressStore(Protocol):
    async def attempts(self, advocate_id: str, lesson_id: str) -> Attempts | None: ...
    async def record_attempt(self, advocate_id: str, lesson_id: str, score: int, now: datetime) -> Attempts:
        """Counts one submission; the counts after it."""
        ...

    async def completion(self, advocate_id: str, lesson_id: str) -> Completion | None: ...
    async def complete(self, advocate_id: str, lesson_id: str, completion: Completion, event: OutboxEvent) -> bool:
        """Records the completion with its event in its outbox, unless one is recorded already
        (then False and nothing is written): at most one per advocate and lesson."""
        ...


class TrainingEventFactory(Protocol):
    def completed(self, lesson: Lesson, viewer: Viewer, completion: Completion) -> OutboxEvent: ...


class PrerequisiteStore(Protocol):
    async def get(self, campaign_id: str) -> CampaignPrerequisites | None: ...
    async def current(self, campaign_id: str) -> tuple[int, CampaignPrerequisites | None]:
        """(version, list) in force; 0 when never set or stored before versions existed."""
        ...

    async def put(self, prerequisites: CampaignPrerequisites, version: int, event: OutboxEvent) -> bool:
        """Stores version `version` with its event; False when another writer stored it first."""
        ...

    async def requiring(self, lesson_id: str) -> list[str]:
        """The campaigns whose list in force holds the lesson."""
        ...

    async def campaigns(self) -> list[str]: ...


class PrerequisiteEventFactory(Protocol):
    def prerequisites_changed(self, prerequisites: CampaignPrerequisites, version: int) -> OutboxEvent: ...
