"""Use cases: create an item (by an admin, or an advocate's suggestion) and edit one.

Only what an author may set is taken from the request; identity, state and review fields are
the service's. An edit is recorded with a compare-and-set on the version, like a lifecycle step.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime

from advocacy.common.v1.common_pb2 import Network
from advocacy.content.v1.content_pb2 import ContentItem

from services.common.events import optional_time, to_timestamp, utcnow
from services.content.app.ports import Items
from services.content.app.transitions import CONCURRENT_CHANGE, ItemNotFound
from services.content.domain.item import (
    VersionConflict,
    audience_values,
    check_expected_version,
    proto_status,
    status_of,
)
from services.content.domain.lifecycle import Action, ContentFields, transition, validate

# Told of every item created or edited (the service asks for its link preview).
Saved = Callable[[ContentItem], None]

_SERVICE_FIELDS = (
    "content_id",
    "status",
    "rejection_reason",
    "reviewer_id",
    "version",
    "published_at",
    "suggested_by",
    "created_at",
    "updated_at",
    "preview",
    "source_id",
    "required_lesson_ids",
)


def new_id() -> str:
    # Time-ordered (milliseconds, then random): admin listings sort newest first by id alone.
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


def _network_name(value: int) -> str:
    try:
        return str(Network.Name(value))
    except ValueError:
        return f"unknown({value})"


def item_fields(item: ContentItem) -> ContentFields:
    return ContentFields(
        title=item.title,
        summary=item.summary,
        url=item.url,
        topics=tuple(item.topics),
        suggested_texts=tuple((_network_name(t.network), t.text) for t in item.suggested_texts),
        publish_at=optional_time(item, "publish_at"),
        expires_at=optional_time(item, "expires_at"),
        media_urls=tuple(item.media_urls),
        language=item.language,
        campaign_id=item.campaign_id,
        audience=audience_values(item.audience),
    )


def editable_copy(source: ContentItem) -> ContentItem:
    """Only what an author may set; identity, state and review fields are the service's."""
    item = ContentItem()
    item.CopyFrom(source)
    for name in _SERVICE_FIELDS:
        item.ClearField(name)
    return item


class CreateItem:
    def __init__(
        self,
        items: Items,
        on_saved: Saved = lambda item: None,
        clock: Callable[[], datetime] = utcnow,
        next_id: Callable[[], str] = new_id,
    ) -> None:
        self._items = items
        self._on_saved = on_saved
        self._clock = clock
        self._next_id = next_id

    async def __call__(self, source: ContentItem, status: int, author_id: str, suggested_by: str = "") -> ContentItem:
        """The stored item, version 1 in `status`. Raises InvalidContent (the field without `item.`)."""
        item = editable_copy(source)
        now = self._clock()
        validate(item_fields(item), now)
        item.content_id = self._next_id()
        item.status = status  # type: ignore[assignment]
        item.version = 1
        item.suggested_by = suggested_by
        if author_id:
            item.author_id = author_id
        item.created_at.CopyFrom(to_timestamp(now))
        item.updated_at.CopyFrom(to_timestamp(now))
        await self._items.insert(item)
        self._on_saved(item)
        return item


class EditItem:
    def __init__(
        self, items: Items, on_saved: Saved = lambda item: None, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._items = items
        self._on_saved = on_saved
        self._clock = clock

    async def __call__(self, content_id: str, expected_version: int, source: ContentItem) -> ContentItem:
        """The item as edited, one version later. Raises ItemNotFound, InvalidExpectedVersion,
        VersionConflict, IllegalTransition or InvalidContent (the field without `item.`)."""
        current = await self._items.get(content_id)
        if current is None:
            raise ItemNotFound(content_id)
        check_expected_version(expected_version, current)
        new_status = transition(status_of(current), Action.EDIT)
        item = editable_copy(source)
        now = self._clock()
        validate(item_fields(item), now)
        item.content_id = current.content_id
        item.status = proto_status(new_status)  # type: ignore[assignment]
        item.version = current.version + 1
        item.author_id = current.author_id or source.author_id
        item.suggested_by = current.suggested_by
        item.created_at.CopyFrom(current.created_at)
        item.updated_at.CopyFrom(to_timestamp(now))
        if not await self._items.replace(item, current.version, [], expected_status=current.status):
            raise VersionConflict(CONCURRENT_CHANGE)
        self._on_saved(item)
        return item
