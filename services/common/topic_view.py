"""Follows a whole topic from its beginning into memory, for local views of other services' (or
one's own) events on an API's request path.

Every replica reads every partition (no consumer group, nothing committed: the view lives in
memory and is rebuilt on start). `current` says whether the broker confirmed, within the last
`max_lag_seconds`, that the view had read everything there is; a view that is not current (starting,
Kafka down) should not be trusted, and its owner falls back to reading the source of truth."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.common.retry import retrying


class TopicFollower:
    def __init__(
        self, bootstrap: str, topic: str, apply: Callable[[bytes], None], client_id: str, max_lag_seconds: float
    ) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        # Applies one record's value; must ignore what it cannot decode (the view is not a consumer
        # that dead-letters: the topic's own consumers do).
        self._apply = apply
        self._client_id = client_id
        self._max_lag = max_lag_seconds
        # Wall-clock time (the fetcher's) the view was last known to be at the end of the topic.
        self.current_at = float("-inf")
        self._stopped = asyncio.Event()

    @property
    def current(self) -> bool:
        return time.time() - self.current_at <= self._max_lag

    def stop(self) -> None:
        self._stopped.set()

    async def run(self) -> None:
        await retrying(
            retry_on=Exception,  # a view must come back whatever broke it
            event="topic_view_retry",
            first_seconds=0.2,
            max_seconds=5.0,
            until=self._stopped,
            topic=self._topic,
        )(self._run_consumer)

    async def _run_consumer(self) -> None:
        if self._stopped.is_set():
            return
        # No group: every partition is assigned, read from the beginning (nothing is committed).
        consumer = AIOKafkaConsumer(
            self._topic,
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id=self._client_id,
        )
        try:
            await consumer.start()
            await self._follow(consumer)
        finally:
            await consumer.stop()

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        while not self._stopped.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=1000)
            for records in batch.values():
                for record in records:
                    self._apply(record.value or b"")
            current_at = await self._read_to_end_at(consumer, sorted(consumer.assignment()))
            if current_at is not None:
                self.current_at = current_at

    @staticmethod
    async def _read_to_end_at(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> float | None:
        """When the broker last confirmed (wall clock) that every partition had nothing beyond what
        the view has read; None while it is behind. A dead broker confirms nothing, so it ages."""
        if not tps:
            return None
        oldest = float("inf")
        for tp in tps:
            high = consumer.highwater(tp)
            polled = consumer.last_poll_timestamp(tp)
            if high is None or polled is None or await consumer.position(tp) < high:
                return None
            oldest = min(oldest, polled / 1000)
        return oldest
