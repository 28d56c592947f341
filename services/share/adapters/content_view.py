"""The share service's local view of content, kept from `content-published`: RecordShare learns
whether an item is published, when it expires, its audience, suggested texts and campaign from
memory instead of asking the content service.

Every replica reads the whole topic (no consumer group) into memory, the latest version of each
item. The view answers only while it is known to be current: it has read up to the end of every
partition within the last `max_lag_seconds`. Otherwise (starting, Kafka down) and for items it
does not hold as published (unknown, just published and not yet read, older than the topic's
retention, archived and perhaps re-published), it falls back to the content service (GetContent,
with its short cache): those answers are rare and stay exact."""

from __future__ import annotations

import asyncio
import time

from advocacy.content.v1.content_pb2 import ContentItem, ContentPublished, ContentStatus
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from google.protobuf.message import DecodeError
from prometheus_client import Counter

from services.common.logging import get_logger
from services.share.app.ports import ContentReader

log = get_logger(__name__)

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
        self._bootstrap = bootstrap
        self._topic = topic
        self._fallback = fallback
        self._max_lag = max_lag_seconds
        self._items: dict[str, ContentItem] = {}
        self._current_at = float(
            "-inf"
        )  # wall-clock time (the fetcher's) the view was last known to be at the end of the topic
        self._stopped = asyncio.Event()

    def apply(self, event: ContentPublished) -> None:
        item = event.item
        held = self._items.get(item.content_id)
        if held is not None and held.version > item.version:
            return  # an older version read after a newer one: keep the newer
        status = _STATUS.get(event.kind)
        if status is not None and item.status != status:
            item.status = status
        self._items[item.content_id] = item

    @property
    def current(self) -> bool:
        return time.time() - self._current_at <= self._max_lag

    async def get(self, content_id: str) -> ContentItem | None:
        item = self._items.get(content_id)
        if item is not None and item.status == ContentStatus.CONTENT_STATUS_PUBLISHED and self.current:
            LOOKUPS.labels("view").inc()
            return item
        LOOKUPS.labels("fallback").inc()
        return await self._fallback.get(content_id)

    def stop(self) -> None:
        self._stopped.set()

    async def run(self) -> None:
        backoff = 0.2
        while not self._stopped.is_set():
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap,
                group_id=None,
                enable_auto_commit=False,
                client_id="share-content-view",
            )
            try:
                await consumer.start()
                await self._follow(consumer)
                backoff = 0.2
            except (KafkaError, OSError) as exc:
                log.warning("content_view_retry", error=str(exc)[:300], backoff_s=backoff)
                try:
                    await asyncio.wait_for(self._stopped.wait(), timeout=backoff)
                except TimeoutError:
                    pass
                backoff = min(backoff * 2, 5.0)
            finally:
                await consumer.stop()

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        partitions = await consumer.partitions_for_topic(self._topic)
        if not partitions:
            raise KafkaError(f"topic {self._topic} has no partitions yet")
        tps = [TopicPartition(self._topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        # Each (re)start reads from the beginning: the view is only in memory.
        await consumer.seek_to_beginning(*tps)
        while not self._stopped.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=1000)
            for records in batch.values():
                for record in records:
                    try:
                        self.apply(ContentPublished.FromString(record.value or b""))
                    except DecodeError:
                        continue  # the content service's consumers dead-letter it; here it is simply no item
            current_at = await self._read_to_end_at(consumer, tps)
            if current_at is not None:
                self._current_at = current_at

    @staticmethod
    async def _read_to_end_at(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> float | None:
        """When the broker last confirmed (wall clock) that every partition had nothing beyond what
        the view has read; None while it is behind. A dead broker confirms nothing, so it ages."""
        oldest = float("inf")
        for tp in tps:
            high = consumer.highwater(tp)
            polled = consumer.last_poll_timestamp(tp)
            if high is None or polled is None or await consumer.position(tp) < high:
                return None
            oldest = min(oldest, polled / 1000)
        return oldest
