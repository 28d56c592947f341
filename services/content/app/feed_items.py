"""Use case: one feed entry becomes one content item, in review or published.

The item's id comes from (source, entry), so inserting it is the de-duplication: a second insert
(the same feed polled again, a restart, another replica) is refused and creates nothing.
Publishing goes through the same lifecycle steps and outbox as the Approve / Publish RPCs, so
`content-published` is emitted exactly as for a hand-made item.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from advocacy.content.v1.content_pb2 import Audience, ContentItem, ContentStatus, FeedSource

from services.common.events import to_timestamp
from services.content.app.ports import ContentEventFactory, ItemExists, Items, OutboxWritten
from services.content.app.transitions import advance
from services.content.domain.item import audience_values, status_of
from services.content.domain.lifecycle import Action, ContentFields, Status
from services.content.domain.sources import FeedEntry, SourceDefaults, entry_fields, entry_item_id, entry_key


def source_defaults(source: FeedSource) -> SourceDefaults:
    return SourceDefaults(
        topics=tuple(source.defaults.topics),
        language=source.defaults.language,
        campaign_id=source.defaults.campaign_id,
        audience=audience_values(source.defaults.audience),
        publish_directly=source.defaults.publish_directly,
    )


def source_actor(source_id: str) -> str:
    """The author and reviewer recorded on a source's items."""
    return f"source:{source_id}"


def item_from_fields(fields: ContentFields) -> ContentItem:
    return ContentItem(
        title=fields.title,
        summary=fields.summary,
        url=fields.url,
        media_urls=list(fields.media_urls),
        topics=list(fields.topics),
        language=fields.language,
        campaign_id=fields.campaign_id,
        audience=Audience(**{dim: list(values) for dim, values in fields.audience.items()}),
    )


class FeedItemWriter:
    def __init__(
        self,
        items: Items,
        events: ContentEventFactory,
        on_outbox_write: OutboxWritten,
        on_created: Callable[[ContentItem], None] = lambda item: None,
    ) -> None:
        self._items = items
        self._events = events
        self._notify = on_outbox_write
        self._on_created = on_created

    async def write(self, source: FeedSource, entry: FeedEntry, now: datetime) -> bool:
        """True when the entry created an item now; raises UnusableEntry for an entry without a link."""
        item = item_from_fields(entry_fields(entry, source_defaults(source)))
        item.content_id = entry_item_id(source.source_id, entry_key(entry))
        item.status = ContentStatus.CONTENT_STATUS_IN_REVIEW
        item.version = 1
        item.author_id = source_actor(source.source_id)
        item.source_id = source.source_id
        item.created_at.CopyFrom(to_timestamp(now))
        item.updated_at.CopyFrom(to_timestamp(now))
        created = True
        try:
            await self._items.insert(item)
        except ItemExists:
            created = False
            if not source.defaults.publish_directly:
                return False
            existing = await self._items.get(item.content_id)
            if existing is None:
                return False
            item = existing
        if source.defaults.publish_directly:
            await self._publish(item, source_actor(source.source_id), now)
        if created:
            self._on_created(item)
        return created

    async def _publish(self, item: ContentItem, actor: str, now: datetime) -> None:
        """Approves and publishes the source's own item; also finishes one a crashed poller left
        half way (still in review or approved, never reviewed by a person)."""
        while item.reviewer_id in ("", actor) and status_of(item) in (Status.IN_REVIEW, Status.APPROVED):
            action = Action.APPROVE if status_of(item) is Status.IN_REVIEW else Action.PUBLISH
            updated, events = advance(item, action, now, self._events, actor_id=actor)
            if not await self._items.replace(updated, item.version, events, expected_status=item.status):
                return  # someone else moved it on (another replica, a person): theirs stands
            if events:
                self._notify(updated)
            item = updated
