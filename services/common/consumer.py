"""A plain aiokafka consumer loop for API services that keep a local view of other services' events.

At-least-once with idempotent handlers: offsets are committed manually, only after the handler's
database write returned, so a crash or an outage re-delivers instead of losing; handlers must make
a redelivery harmless (upserts keyed by event or entity id). A partition's messages are handled in
offset order; different partitions' concurrently, so handlers of different keys must not depend
on each other. A message that cannot be decoded, or that its handler rejects as invalid
(`ValueError`), goes to `<topic>.dlq` with the same headers the Faust workers write
(`dlq.reason`, `dlq.error`, `dlq.origin`), is counted, and the loop goes on.
Kafka or the database being down is retried with backoff from the last committed offsets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from google.protobuf.message import DecodeError
from google.protobuf.message import Message as ProtoMessage
from pymongo.errors import PyMongoError

from services.common.kafka import start_producer
from services.common.metrics import EVENT_PROCESSING_SECONDS, EVENTS_CONSUMED
from services.common.retry import retrying
from services.common.topics import DeadLetter, send_dead_letters


@dataclass(frozen=True)
class Subscription:
    """One topic, the protobuf type on it and the idempotent handler of a decoded message."""

    topic: str  # full name, prefix included
    message_type: type[ProtoMessage]
    handler: Callable[[Any], Awaitable[Any]]
    # The topic's name without the test prefix: bounded metric label values.
    label: str


class ConsumerLoop:
    def __init__(
        self,
        bootstrap: str,
        group_id: str,
        subscriptions: list[Subscription],
        producer_factory: Callable[[], AIOKafkaProducer],
        client_id: str = "advocacy-consumer",
        max_backoff_seconds: float = 5.0,
    ) -> None:
        self._bootstrap = bootstrap
        self._group_id = group_id
        self._subs = {s.topic: s for s in subscriptions}
        self._producer_factory = producer_factory
        self._producer: AIOKafkaProducer | None = None
        self._client_id = client_id
        self._max_backoff = max_backoff_seconds
        self._stopped = asyncio.Event()

    def stop(self) -> None:
        self._stopped.set()

    async def run(self) -> None:
        # Uncommitted messages come again from the committed offsets: handlers are idempotent.
        await retrying(
            retry_on=(KafkaError, PyMongoError, OSError),
            event="consumer_retry",
            first_seconds=0.2,
            max_seconds=self._max_backoff,
            until=self._stopped,
            group=self._group_id,
        )(self._run_consumer)
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def _run_consumer(self) -> None:
        """Consumes until stopped (returns) or until Kafka or the database fails (raises)."""
        if self._stopped.is_set():
            return
        consumer = AIOKafkaConsumer(
            *self._subs,
            bootstrap_servers=self._bootstrap,
            group_id=self._group_id,
            client_id=self._client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        try:
            await consumer.start()
            await self._consume(consumer)
        finally:
            await consumer.stop()

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while not self._stopped.is_set():
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            if not batch:
                continue
            # Partitions concurrently (their keys differ), each in offset order: one partition's
            # roundtrips to the database wait no longer for another's.
            by_partition = await asyncio.gather(*(self._process_in_order(records) for records in batch.values()))
            poison = [p for found in by_partition for p in found]
            # The fetch's poison messages all in flight at once, every one acknowledged by Kafka
            # before the offsets move past them; then one commit for all its partitions (one
            # send-and-wait each would cost a fetch full of poison two roundtrips per message).
            await self._dead_letter_all(poison)
            # After every write of the batch returned: a crash before this line re-delivers.
            await consumer.commit(
                {TopicPartition(tp.topic, tp.partition): records[-1].offset + 1 for tp, records in batch.items()}
            )

    async def _process_in_order(self, records: list[ConsumerRecord]) -> list[DeadLetter]:
        return [p for record in records if (p := await self.process(record)) is not None]

    async def process(self, record: ConsumerRecord) -> DeadLetter | None:
        """Handles one record; returns it as poison (for the DLQ) when it is unusable."""
        sub = self._subs[record.topic]
        started = time.perf_counter()
        try:
            message = sub.message_type.FromString(record.value or b"")
        except DecodeError as exc:
            return self._poison(record, sub, "undecodable_value", exc)
        try:
            await sub.handler(message)
        except ValueError as exc:  # the handler's verdict: valid protobuf, unusable content
            return self._poison(record, sub, "invalid", exc)
        EVENTS_CONSUMED.labels(sub.label).inc()
        EVENT_PROCESSING_SECONDS.labels(sub.label).observe(time.perf_counter() - started)
        return None

    @staticmethod
    def _poison(record: ConsumerRecord, sub: Subscription, reason: str, exc: BaseException) -> DeadLetter:
        return DeadLetter(
            sub.label, record.topic, record.partition, record.offset, record.key, record.value, reason, str(exc)
        )

    async def _dead_letter_all(self, poison: list[DeadLetter]) -> None:
        if not poison:
            return
        if self._producer is None:
            self._producer = await start_producer(self._producer_factory)
        await send_dead_letters(poison, self._producer)
