"""One lifecycle step applied to a content item, and the optimistic-concurrency check (pure)."""

from __future__ import annotations

from datetime import datetime

from advocacy.content.v1.content_pb2 import Audience, ContentItem, ContentPublished, ContentStatus

from services.common.events import to_timestamp
from services.content.domain.lifecycle import Action, Status, transition


def status_of(item: ContentItem) -> Status:
    return Status(ContentStatus.Name(item.status).removeprefix("CONTENT_STATUS_"))


def audience_values(audience: Audience) -> dict[str, tuple[str, ...]]:
    """An Audience message as the domain's dimension -> values mapping."""
    return {dim: tuple(getattr(audience, dim)) for dim in ("teams", "locations", "languages", "roles")}


def proto_status(status: Status) -> int:
    return int(ContentStatus.Value(f"CONTENT_STATUS_{status.value}"))


def step(
    item: ContentItem, action: Action, now: datetime, actor_id: str = "", reason: str = ""
) -> tuple[ContentItem, int | None]:
    """The item after `action` (version + 1) and the ContentPublished kind it announces (None: nothing).

    Raises IllegalTransition when `action` is not allowed from the item's state.
    """
    new_status = transition(status_of(item), action)
    was_published = item.HasField("published_at")
    result = ContentItem()
    result.CopyFrom(item)
    result.status = proto_status(new_status)  # type: ignore[assignment]
    result.version = item.version + 1
    result.updated_at.CopyFrom(to_timestamp(now))
    if action is Action.REJECT:
        result.rejection_reason = reason
    if action in (Action.APPROVE, Action.REJECT):
        result.reviewer_id = actor_id
    if action is Action.PUBLISH:
        result.published_at.CopyFrom(to_timestamp(now))
        return result, ContentPublished.KIND_PUBLISHED
    if action in (Action.EXPIRE, Action.ARCHIVE) and was_published:
        # Only items that were ever visible announce their withdrawal; an unpublished item's is internal.
        return result, ContentPublished.KIND_EXPIRED if action is Action.EXPIRE else ContentPublished.KIND_ARCHIVED
    return result, None


class InvalidExpectedVersion(ValueError):
    def __init__(self) -> None:
        super().__init__("expected_version: must be >= 0 (0 = do not check)")


class VersionConflict(Exception):
    """Another writer changed the item first (or the caller's copy is old): read it again and retry."""


def check_expected_version(expected: int, item: ContentItem) -> None:
    """0 means "do not check"; otherwise the caller's version must be the current one."""
    if expected < 0:
        raise InvalidExpectedVersion()
    if expected and expected != item.version:
        raise VersionConflict(f"version conflict: expected {expected}, current is {item.version}")
