"""Transactional outbox without transactions.

The events a write emits are stored *inside the document it writes* (an `outbox` array),
so the state change and the promise to publish are one atomic single-document write, on
FerretDB and MongoDB alike. The relay sends them to Kafka and, only after Kafka acknowledged,
removes exactly the sent elements with `$pullAll`. A crash in between re-sends: delivery is
at-least-once with a stable `event_id`, and every consumer de-duplicates on it.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from services.common.events import utcnow
from services.common.kafka import start_producer
from services.common.logging import get_logger
from services.common.metrics import EVENTS_PRODUCED, OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE
from services.common.retry import retrying

log = get_logger(__name__)


class _Event(Protocol):
    """Every event message of the contract: an `event_id` and protobuf serialization."""

    @property
    def event_id(self) -> str: ...

    def SerializeToString(self) -> bytes: ...


@dataclass(frozen=True)
class OutboxEvent:
    event_id: str
    topic: str
    key: str
    value: bytes

    @classmethod
    def of(cls, event: _Event, topic: str, key: str) -> OutboxEvent:
        """The outbox element that sends `event` to `topic` under `key`, with the event's own id."""
        return cls(event_id=event.event_id, topic=topic, key=key, value=event.SerializeToString())

    def to_document(self, created_at: datetime | None = None) -> dict[str, Any]:
        at = created_at or utcnow()
        return {
            "event_id": self.event_id,
            "topic": self.topic,
            "key": self.key,
            "value": self.value,
            # BSON keeps milliseconds: truncated here, the element a writer hands to the relay
            # equals the stored one, so `$pullAll` of it removes it.
            "created_at": at.replace(microsecond=at.microsecond // 1000 * 1000),
        }


PENDING = {"outbox.0": {"$exists": True}}
# Sent events are removed by unordered bulk updates of this many statements, one bulk at a time:
# FerretDB 1.24 holds about one pooled SQLite connection per statement until the command ends and
# hangs near 100, so a bulk stays well below that. On the local FerretDB, 100 removals take 47 ms
# as bulks of 50 and 250 ms as 16 concurrent update_one.
REMOVE_CHUNK = 50
# A relay that sent within this window is under load: it lingers for company when woken.
LOAD_WINDOW_SECONDS = 0.05


async def ensure_outbox_index(collection: AsyncCollection) -> None:
    await collection.create_index([("outbox.created_at", 1)], name="outbox_pending")


class OutboxRelay:
    """Moves outbox events of one collection to Kafka; wakes at once on `notify()`."""

    def __init__(
        self,
        collection: AsyncCollection,
        producer_factory: Callable[[], AIOKafkaProducer],
        batch_documents: int = 500,
        idle_poll_seconds: float = 0.5,
        topic_prefix: str = "",
        sweep_interval_seconds: float = 10.0,
        order_by: str | None = None,
        linger_seconds: float = 0.002,
    ) -> None:
        self._collection = collection
        # Woken while writes keep coming (the last send was within LOAD_WINDOW_SECONDS), the relay
        # waits this long so writes arriving together go in one batch; a lone write goes at once.
        self._linger = linger_seconds
        self._last_sent = -math.inf
        # A top-level field to send documents in ascending order of (e.g. a write time): needed when
        # successive documents carry successive states of one key for a compacted topic.
        self._order_by = order_by
        # The relay owns its producer: Kafka may be down when the service starts, and the
        # API must still accept writes, so connecting is retried here rather than at start-up.
        self._producer_factory = producer_factory
        self._producer: AIOKafkaProducer | None = None
        self._batch = batch_documents
        self._idle = idle_poll_seconds
        self._wake = asyncio.Event()
        # Documents written since the last send, by id, with their outbox when the writer handed
        # it over (then nothing is read back) or None (then read by `_id`, the one lookup FerretDB's
        # SQLite backend does not answer with a full scan). Insertion-ordered: sent in write order.
        # A periodic sweep (and one at start) finds what a crash or another replica left behind.
        self._known: dict[Any, list[dict[str, Any]] | None] = {}
        self._sweep_interval = sweep_interval_seconds
        self._sweep_due = 0.0  # monotonic time of the next sweep; 0 = at once
        self.last_sweep_at: float | None = None  # loop time of the last completed sweep
        self._stopped = asyncio.Event()
        self._stopping = False
        self._name = collection.name
        # Metric labels name the logical topic, so test prefixes cannot blow up label cardinality.
        self._topic_prefix = topic_prefix

    def notify(self, document_id: Any = None, outbox: list[dict[str, Any]] | None = None) -> None:
        """Wakes the relay. With the id of the document just written, the relay reads exactly that
        document (by `_id`), or with its `outbox` as written (`OutboxEvent.to_document()` elements)
        reads nothing; without an id, it sweeps the whole collection."""
        if document_id is None:
            self._sweep_due = 0.0
        elif outbox is not None or document_id not in self._known:
            self._known[document_id] = outbox
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._stopped.set()
        self._wake.set()

    async def run(self) -> None:
        # Kafka or the database down: the events stay in their documents; retried with backoff
        # that new writes do not cut short (they would only hammer a dead broker), stop does.
        policy = retrying(
            retry_on=(KafkaError, PyMongoError, OSError),
            event="outbox_relay_retry",
            first_seconds=self._idle,
            max_seconds=5.0,
            until=self._stopped,
            collection=self._name,
        )
        while not self._stopping:
            sent = await policy(self._relay_step)
            if sent:
                self._last_sent = time.monotonic()
                continue
            self._wake.clear()
            await self._wait_for_wake(self._idle)
            under_load = time.monotonic() - self._last_sent < LOAD_WINDOW_SECONDS
            if self._wake.is_set() and under_load and self._linger > 0:
                await asyncio.sleep(self._linger)
        await self._drain_and_close()

    async def _relay_step(self) -> int | None:
        if self._stopping:  # stopped during a backoff: the final drain sends what is left
            return None
        try:
            await self._connect()
            return await self.relay_once()
        except (KafkaError, OSError):
            # A fresh producer after a Kafka failure: an idempotent producer whose batches failed
            # across a broker restart keeps answering OutOfOrderSequenceNumber forever; a new one
            # gets a new producer id. Unsent events are still in their documents, so nothing is
            # lost by dropping it. (A database error keeps it.)
            await self._reset_producer()
            raise

    async def _wait_for_wake(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _connect(self) -> None:
        if self._producer is None:
            self._producer = await start_producer(self._producer_factory)

    async def _reset_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), timeout=5.0)
            except (KafkaError, OSError, TimeoutError) as exc:
                log.warning("outbox_producer_stop_failed", collection=self._name, error=str(exc)[:300])

    async def _drain_and_close(self) -> None:
        """On stop: one last send of what in-flight calls wrote, then close (the rest waits in Mongo)."""
        try:
            if self._producer is not None:
                await asyncio.wait_for(self.relay_once(), timeout=5.0)
        except (KafkaError, PyMongoError, OSError, TimeoutError) as exc:
            log.warning("outbox_final_drain_incomplete", collection=self._name, error=str(exc)[:300])
        finally:
            if self._producer is not None:
                await self._producer.stop()
                self._producer = None

    async def _pending_documents(self) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        # Ordered relays always sweep: sending by id could overtake an earlier document.
        if loop.time() >= self._sweep_due or self._order_by:
            self._sweep_due = loop.time() + self._sweep_interval
            known_before = set(self._known)
            cursor = self._collection.find(PENDING, {"outbox": 1})
            if self._order_by:
                cursor = cursor.sort(self._order_by, 1)
            docs = [d async for d in cursor.limit(self._batch)]
            await self._update_gauges(docs)
            if len(docs) < self._batch:
                for doc_id in known_before:  # the sweep saw all of these; later writes stay known
                    self._known.pop(doc_id, None)
            self.last_sweep_at = loop.time()
            return docs
        taken = list(itertools.islice(self._known, self._batch))
        handed = []
        unread = []
        for doc_id in taken:
            outbox = self._known.pop(doc_id)
            if outbox is None:
                unread.append(doc_id)
            elif outbox:
                handed.append({"_id": doc_id, "outbox": outbox})
        read = await asyncio.gather(*(self._collection.find_one({"_id": i}, {"outbox": 1}) for i in unread))
        return handed + [doc for doc in read if doc and doc.get("outbox")]

    async def relay_once(self) -> int:
        """Sends one batch; returns how many events Kafka acknowledged."""
        docs = await self._pending_documents()
        if not docs:
            return 0
        assert self._producer is not None
        try:
            futures = []
            for doc in docs:
                for ev in doc["outbox"]:
                    fut = await self._producer.send(ev["topic"], value=bytes(ev["value"]), key=ev["key"].encode())
                    futures.append((ev["topic"], fut))
            results = await asyncio.gather(*(f for _, f in futures), return_exceptions=True)
            failed = [r for r in results if isinstance(r, BaseException)]
            if failed:
                raise failed[0] if isinstance(failed[0], KafkaError | OSError) else KafkaError(str(failed[0]))
        except BaseException:
            for doc in docs:  # retried by id, not only by the next sweep
                self._known.setdefault(doc["_id"], doc["outbox"])
            raise
        for topic, _ in futures:
            EVENTS_PRODUCED.labels(topic.removeprefix(self._topic_prefix)).inc()
        # Updates by `_id` (an index lookup each) in bounded bulks (see REMOVE_CHUNK).
        for start in range(0, len(docs), REMOVE_CHUNK):
            await self._collection.bulk_write(
                [
                    UpdateOne({"_id": doc["_id"]}, {"$pullAll": {"outbox": doc["outbox"]}})
                    for doc in docs[start : start + REMOVE_CHUNK]
                ],
                ordered=False,
            )
        return len(futures)

    async def _update_gauges(self, docs: list[dict[str, Any]]) -> None:
        pending = [ev for d in docs for ev in d["outbox"]]
        OUTBOX_BACKLOG.labels(self._name).set(len(pending))
        if pending:
            oldest = min(ev["created_at"] for ev in pending)
            if oldest.tzinfo is None:  # a client without tz_aware=True reads naive UTC datetimes
                oldest = oldest.replace(tzinfo=UTC)
            OUTBOX_OLDEST_AGE.labels(self._name).set((utcnow() - oldest).total_seconds())
        else:
            OUTBOX_OLDEST_AGE.labels(self._name).set(0)
