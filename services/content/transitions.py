"""Applies one lifecycle step to an item and says which events it emits; used by the API and the scheduler."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from advocacy.content.v1.content_pb2 import Audience, ContentItem, ContentPublished, ContentStatus

from services.common.events import new_event_id, to_timestamp
from services.common.outbox import OutboxEvent
from services.common.topics import CONTENT_PUBLISHED
from services.content.domain.lifecycle import Action, Status, transition


def status_of(item: ContentItem) -> Status:
    return Status(ContentStatus.Name(item.status).removeprefix("CONTENT_STATUS_"))


def audience_values(audience: Audience) -> dict[str, tuple[str, ...]]:
    """An Audience message as the domain's dimension -> values mapping."""
    return {dim: tuple(getattr(audience, dim)) for dim in ("teams", "locations", "languages", "roles")}


def proto_status(status: Status) -> int:
    return int(ContentStatus.Value(f"CONTENT_STATUS_{status.value}"))


class ContentEvents:
    def __init__(self, topic: Callable[[str], str]) -> None:
        self._topic = topic

    def published(self, item: ContentItem, kind: int, now: datetime) -> OutboxEvent:
        event = ContentPublished(event_id=new_event_id(), occurred_at=to_timestamp(now), kind=kind, item=item)
        return OutboxEvent.of(event, self._topic(CONTENT_PUBLISHED.name), key=item.content_id)


def advance(
    item: ContentItem, action: Action, now: datetime, events: ContentEvents, actor_id: str = "", reason: str = ""
) -> tuple[ContentItem, list[OutboxEvent]]:
    """The item after `action` (version + 1) and the events to write with it.

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
    emitted: list[OutboxEvent] = []
    if action is Action.PUBLISH:
        result.published_at.CopyFrom(to_timestamp(now))
        emitted.append(events.published(result, ContentPublished.KIND_PUBLISHED, now))
    elif action in (Action.EXPIRE, Action.ARCHIVE) and was_published:
        # Only items that were ever visible announce their withdrawal; an unpublished item's is internal.
        kind = ContentPublished.KIND_EXPIRED if action is Action.EXPIRE else ContentPublished.KIND_ARCHIVED
        emitted.append(events.published(result, kind, now))
    return result, emitted
