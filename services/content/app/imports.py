"""Use case: import a previous tool's items (admin only), recorded directly as published at a past
time, so imported shares can refer to them. Each item is one change record (version 1) carrying
its `content-published` event (imported, occurred_at = published_at), as Publish would have
written it then; an item whose expires_at has passed too is recorded EXPIRED, with its expiry
event (occurred_at = expires_at) after the publication. An item expiring later expires by itself.

The content id derives from the import key, so a repeat (a migration re-run) finds the item: it is
answered as recorded and not checked again. A batch is checked whole before anything is written;
an error names the entry (`items[2].item.url: ...`)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime

from advocacy.content.v1.content_pb2 import ContentItem, ContentPublished, ContentStatus, ImportedContent
from grpc_interceptor.exceptions import InvalidArgument

from services.common.events import optional_time, to_timestamp, utcnow
from services.common.validation import check_past_time, check_request_id
from services.content.app.authoring import Saved, editable_copy, item_fields
from services.content.app.ports import ContentEventFactory, ImportedItems, OutboxWritten
from services.content.domain.lifecycle import InvalidContent, validate

# Items per call.
MAX_BATCH = 100


def imported_content_id(import_key: str) -> str:
    """32 hex digits like every content id (never an own post's "own:..."), the same for a key."""
    return hashlib.sha256(f"content-import\0{import_key}".encode()).hexdigest()[:32]


def _check(i: int, given: ImportedContent, now: datetime, keys: set[str]) -> datetime:
    """published_at, when the entry may be imported; InvalidArgument naming its field otherwise."""
    name = f"items[{i}]"
    check_request_id(given.import_key, f"{name}.import_key")
    if given.import_key in keys:
        raise InvalidArgument(f"{name}.import_key: {given.import_key!r} is listed twice")
    keys.add(given.import_key)
    check_request_id(given.item.author_id, f"{name}.item.author_id", optional=True)
    published_at = check_past_time(given, "published_at", f"{name}.published_at", now)
    try:
        validate(item_fields(editable_copy(given.item)))
    except InvalidContent as exc:
        raise InvalidArgument(f"{name}.item.{exc}") from exc
    expires_at = optional_time(given.item, "expires_at")
    if expires_at is not None and expires_at <= published_at:
        raise InvalidArgument(f"{name}.item.expires_at: must be after published_at")
    return published_at


class ImportItems:
    def __init__(
        self,
        items: ImportedItems,
        events: ContentEventFactory,
        on_outbox_write: OutboxWritten,
        on_saved: Saved = lambda item: None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._items = items
        self._events = events
        self._notify = on_outbox_write
        self._on_saved = on_saved
        self._clock = clock

    async def __call__(self, entries: Sequence[ImportedContent]) -> list[tuple[ContentItem, bool]]:
        """(item, created) per entry, in order."""
        if not entries:
            raise InvalidArgument("items: at least one entry")
        if len(entries) > MAX_BATCH:
            raise InvalidArgument(f"items: at most {MAX_BATCH} entries per call ({len(entries)} given)")
        now = self._clock()
        keys: set[str] = set()
        published = [_check(i, e, now, keys) for i, e in enumerate(entries)]
        return [await self._import(e, at, now) for e, at in zip(entries, published, strict=True)]

    async def _import(self, given: ImportedContent, published_at: datetime, now: datetime) -> tuple[ContentItem, bool]:
        item = editable_copy(given.item)
        item.content_id = imported_content_id(given.import_key)
        item.status = ContentStatus.CONTENT_STATUS_PUBLISHED
        item.version = 1
        item.published_at.CopyFrom(to_timestamp(published_at))
        item.created_at.CopyFrom(to_timestamp(published_at))
        item.updated_at.CopyFrom(to_timestamp(now))
        events = [self._events.published(item, ContentPublished.KIND_PUBLISHED, published_at, imported=True)]
        expires_at = optional_time(item, "expires_at")
        if expires_at is not None and expires_at <= now:
            item = _expired(item)
            events.append(self._events.published(item, ContentPublished.KIND_EXPIRED, expires_at, imported=True))
        if not await self._items.insert_recorded(item, events):
            stored = await self._items.get(item.content_id)
            return (stored if stored is not None else item), False
        self._notify(item)
        self._on_saved(item)
        return item, True


def _expired(item: ContentItem) -> ContentItem:
    result = ContentItem()
    result.CopyFrom(item)
    result.status = ContentStatus.CONTENT_STATUS_EXPIRED
    return result
