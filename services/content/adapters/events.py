"""The `content-published` events a change writes into its outbox (protobuf on the prefixed topic)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from advocacy.content.v1.content_pb2 import ContentItem, ContentPublished

from services.common.events import new_event_id, to_timestamp
from services.common.outbox import OutboxEvent
from services.common.topics import CONTENT_PUBLISHED


class ContentEvents:
    def __init__(self, topic: Callable[[str], str]) -> None:
        self._topic = topic

    def published(self, item: ContentItem, kind: int, now: datetime, imported: bool = False) -> OutboxEvent:
        event = ContentPublished(
            event_id=new_event_id(), occurred_at=to_timestamp(now), kind=kind, item=item, imported=imported
        )
        return OutboxEvent.of(event, self._topic(CONTENT_PUBLISHED.name), key=item.content_id)
