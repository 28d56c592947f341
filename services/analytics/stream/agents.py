"""Faust agents of the analytics service, thin loops around `Ingest` and `RollupProcessor`.

Shares and engagement are taken together in batches: each batch's facts are stored with one bulk
insert (and its unique-click and reach claims with others), then rolled up (`app/rollups.py`);
the batch's offsets are acknowledged only after.

The agents take raw bytes and decode them themselves: an event that does not decode, or decodes
but is unusable, goes to the topic's DLQ with the rest of its batch's poison (all sends in flight
at once, acknowledged before the batch's offsets are); the stream goes on. A batch whose store
fails is retried in place until it succeeds (`until_done`): nothing is skipped.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import faust
from advocacy.content.v1.content_pb2 import ContentPublished
from advocacy.share.v1.share_pb2 import AdvocateChanged, EngagementObserved, ShareMade
from faust.types import EventT
from google.protobuf.message import Message as ProtoMessage

from services.analytics.app.health import HealthSink
from services.analytics.app.ingest import Ingest, InvalidEvent
from services.analytics.app.rollups import Positioned, RollupProcessor, RollupSink
from services.analytics.metrics import UNWRITTEN_DOCUMENTS
from services.analytics.stream.health import register_health
from services.analytics.stream.records import TableRecords
from services.common.batching import process_batches
from services.common.logging import get_logger
from services.common.metrics import EVENT_PROCESSING_SECONDS, EVENTS_CONSUMED
from services.common.offsets import InOrder
from services.common.stream import Poison, dead_letter_all, durable_table, sort_out, topic_label
from services.common.topics import ADVOCATE_CHANGED, CONTENT_PUBLISHED, ENGAGEMENT_OBSERVED, SHARE_MADE, TopicSpec

log = get_logger(__name__)

# Under load a batch is what arrived within this time, up to the configured most events
# (`take_adaptive`; a lone event is processed at once).
BATCH_WITHIN_SECONDS = 1.0
# The low-volume views handle their events one at a time; batches only group their poison messages.
VIEW_BATCH_MAX_EVENTS = 10_000


def register_agents(
    app: faust.App,
    topic: Callable[[str], str],
    ingest: Ingest,
    documents: Callable[[], RollupSink],
    batch_max_events: int,
    health: Callable[[], HealthSink] | None = None,
) -> None:
    # The two high-volume topics, consumed together so that partition p of both feeds the same
    # rollup records (one writer each): a batch of facts in bulk writes, then its rollups.
    _register_facts(app, topic, ingest, documents, batch_max_events)
    # Latest-state views (a conditional upsert each): low volume, one at a time.
    handlers: list[tuple[TopicSpec, Any, Callable[[Any], Awaitable[bool]]]] = [
        (CONTENT_PUBLISHED, ContentPublished, ingest.content_published),
        (ADVOCATE_CHANGED, AdvocateChanged, ingest.advocate_changed),
    ]
    for spec, message_type, handle in handlers:
        _register(app, spec, _raw_topic(app, topic(spec.name)), message_type, handle)
    if health is not None:
        # Programme health and training (issue 23): its own agent and table beside the rollups.
        register_health(app, topic, health, batch_max_events)


def arrived_at(event: EventT) -> datetime | None:
    """When the event reached Kafka: its record's timestamp (producer create time, or the broker's
    append time on a LogAppendTime topic); None when the record has none. Lateness is judged by it,
    so a replay or a worker outage does not push events out of their windows."""
    seconds = event.message.timestamp
    if not seconds or seconds <= 0:
        return None
    return datetime.fromtimestamp(seconds, UTC)


def _raw_topic(app: faust.App, name: str) -> Any:
    # Raw bytes: the agents decode, so a batch's poison messages are dead-lettered together (all
    # in flight at once) instead of one send-and-wait each in Faust's consumer (decode errors).
    return app.topic(name, key_serializer="raw", value_serializer="raw")


def _register_facts(
    app: faust.App,
    topic: Callable[[str], str],
    ingest: Ingest,
    documents: Callable[[], RollupSink],
    batch_max_events: int,
) -> None:
    channel = app.topic(
        topic(SHARE_MADE.name), topic(ENGAGEMENT_OBSERVED.name), key_serializer="raw", value_serializer="raw"
    )
    tables = (
        durable_table(app, "analytics-rollups", key_type=str, value_type=None),  # values: JSON
        durable_table(app, "analytics-unwritten", key_type=str, value_type=None),
    )
    records = TableRecords(*tables)
    processor = RollupProcessor(ingest, lambda: records, documents)
    _register_forget(app, records)
    decoders: dict[str, Callable[[bytes], ShareMade | EngagementObserved]] = {
        SHARE_MADE.name: ShareMade.FromString,
        ENGAGEMENT_OBSERVED.name: EngagementObserved.FromString,
    }

    def positioned(event: EventT) -> Positioned:
        message = event.message
        label = topic_label(app, message.topic)
        fact = ingest.fact(decoders[label](event.value), arrived_at(event))
        return Positioned(label, message.partition, message.offset, fact, event)

    async def process(stream: faust.StreamT) -> None:
        # Offsets of a batch are acknowledged only after its facts and rollups are stored and its
        # poison messages are in the DLQ; a partition's events are taken in offset order (the
        # records skip what they applied by offset).
        await process_batches(stream, in_order, agent, store, batch_max_events, BATCH_WITHIN_SECONDS)

    async def store(batch: Sequence[EventT]) -> list[str]:
        items, poison = sort_out(batch, positioned)
        await dead_letter_all(app, poison)
        await processor.process(items)
        UNWRITTEN_DOCUMENTS.set(records.behind())
        return [item.source for item in items]

    agent = "analytics-facts"
    in_order = InOrder(app, agent)
    app.agent(channel, name=agent)(process)


def _register_forget(app: faust.App, records: TableRecords) -> None:
    async def forget(sender: Any, *args: Any, **kwargs: Any) -> None:
        records.forget()  # another worker may write these partitions' records now

    app.on_partitions_revoked.connect(cast(Any, forget))
    app.on_partitions_assigned.connect(cast(Any, forget))


def _register(
    app: faust.App,
    spec: TopicSpec,
    channel: Any,
    message_type: type[ProtoMessage],
    handle: Callable[[Any], Awaitable[bool]],
) -> None:
    async def process(stream: faust.StreamT) -> None:
        # Taken in batches only so that a batch's poison messages are dead-lettered together; the
        # good events are handled one at a time, in order. Offsets acknowledged after the batch.
        await process_batches(stream, in_order, agent, handle_batch, VIEW_BATCH_MAX_EVENTS, BATCH_WITHIN_SECONDS)

    async def handle_batch(batch: Sequence[EventT]) -> None:
        # Retried as a whole after a failure: handling an event again changes nothing.
        decoded, poison = sort_out(batch, lambda event: (event, message_type.FromString(event.value)))
        for event, message in decoded:
            start = time.perf_counter()
            try:
                await handle(message)
            except InvalidEvent as exc:
                poison.append(Poison(event.message, "invalid", str(exc)))
                continue
            EVENTS_CONSUMED.labels(spec.name).inc()
            EVENT_PROCESSING_SECONDS.labels(spec.name).observe(time.perf_counter() - start)
        await dead_letter_all(app, poison)

    agent = f"analytics-{spec.name}"
    in_order = InOrder(app, agent)
    app.agent(channel, name=agent)(process)
