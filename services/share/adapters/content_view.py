"""The share service's local view of content, kept from `content-published`: RecordShare learns
whether an item is published, when it expires, its audience, suggested texts and campaign from
memory instead of asking the content service.

The latest version of each item is kept (`TopicFollower`: every replica reads the whole topic).
The view answers only while current (confirmed at the end of the topic within the last
`max_lag_seconds`). Otherwise (starting, Kafka down) and for items it does not hold as published
(unknown, just published and not yet read, older than the topic's retention, archived and perhaps
re-published), it falls back to the content service (GetContent, with its short cache): those
answers are rare and stay exact."""

from __future__ import annotations

from advocacy.content.v1.content_pb2 import ContentItem, ContentPublished, ContentStatus
from google.protobuf.message import DecodeError
from prometheus_client import Counter

from services.common.topic_view import TopicFollower
from services.share.app.ports import ContentReader

LOOKUPS = Counter(
    "advocacy_share_content_lookups_total",
    "RecordShare content lookups by where they were answered (view, fallback).",
    ["source"],
)

_STATUS = {
    ContentPublished.Kind.KIND_PUBLISHED: ContentStatus.CONTENT_STATUS_PUBLISHED,
    ContentPublished.Kind.KIND_EXPIRED: ContentStatus.CONTENT_STATUS_EXPIRED,
    ContentPublished.Kind.KIND_ARCHIVED: ContentStatus.CONTENT_STATUS_ARCHIVED,
}


class ContentView:
    def __init__(self, bootstrap: str, topic: str, fallback: ContentReader, max_lag_seconds: float = 2.0) -> None:
        self._fallback = fallback
        self._items: dict[str, ContentItem] = {}
        self.follower = TopicFollower(bootstrap, topic, self._record, "share-content-view", max_lag_seconds)

    def _record(self, value: bytes) -> None:
        try:
            self.apply(ContentPublished.FromString(value))
        except DecodeError:
            pass  # the content service's consumers dead-letter it; here it is simply no item

    def apply(self, event: ContentPublished) -> None:
        item = event.item
        held = self._items.get(item.content_id)
        if held is not None and held.version > item.version:
            return  # an older version read after a newer one: keep the newer
        status = _STATUS.get(event.kind)
        if status is not None and item.status != status:
            item.status = status
        self._items[item.content_id] = item

    async def get(self, content_id: str) -> ContentItem | None:
        item = self._items.get(content_id)
        if item is not None and item.status == ContentStatus.CONTENT_STATUS_PUBLISHED and self.follower.current:
            LOOKUPS.labels("view").inc()
            return item
        LOOKUPS.labels("fallback").inc()
        return await self._fallback.get(content_id)
