"""Use case: move an item one lifecycle step on request (SubmitForReview, Approve, Reject, Publish, Archive).

The change and its events are one record (services/content/adapters/repository.py): of two
concurrent steps from the same version exactly one is recorded, the other is told to retry.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from advocacy.content.v1.content_pb2 import ContentItem

from services.common.events import optional_time, utcnow
from services.common.outbox import OutboxEvent
from services.content.app.ports import ContentEventFactory, Items, OutboxWritten
from services.content.domain.item import VersionConflict, check_expected_version, status_of, step
from services.content.domain.lifecycle import Action, transition
from services.content.domain.schedule import publish_is_scheduled, refuse_if_expired

CONCURRENT_CHANGE = "version conflict: the item changed concurrently; read it again and retry"


class ItemNotFound(LookupError):
    def __init__(self, content_id: str) -> None:
        super().__init__(f"content {content_id!r} not found")


def advance(
    item: ContentItem,
    action: Action,
    now: datetime,
    events: ContentEventFactory,
    actor_id: str = "",
    reason: str = "",
) -> tuple[ContentItem, list[OutboxEvent]]:
    """The item after `action` and the events to record with it; raises IllegalTransition."""
    result, kind = step(item, action, now, actor_id, reason)
    return result, ([] if kind is None else [events.published(result, kind, now)])


class TransitionItem:
    def __init__(
        self,
        items: Items,
        events: ContentEventFactory,
        on_outbox_write: OutboxWritten,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._items = items
        self._events = events
        self._notify = on_outbox_write
        self._clock = clock

    async def __call__(
        self, content_id: str, action: Action, expected_version: int = 0, actor_id: str = "", reason: str = ""
    ) -> ContentItem:
        """The item after the step. Raises ItemNotFound, InvalidExpectedVersion, VersionConflict,
        IllegalTransition, or AlreadyExpired (approving or publishing an item past its expiry)."""
        item = await self._items.get(content_id)
        if item is None:
            raise ItemNotFound(content_id)
        check_expected_version(expected_version, item)
        now = self._clock()
        # The state first: "cannot publish an item that is EXPIRED" says more than its expiry time.
        transition(status_of(item), action)
        refuse_if_expired(action, optional_time(item, "expires_at"), now)
        if action is Action.PUBLISH and publish_is_scheduled(optional_time(item, "publish_at"), now):
            return item  # stays APPROVED; the scheduler publishes it at publish_at
        updated, events = advance(item, action, now, self._events, actor_id, reason)
        if not await self._items.replace(updated, item.version, events, expected_status=item.status):
            raise VersionConflict(CONCURRENT_CHANGE)
        if events:
            self._notify(updated)
        return updated
