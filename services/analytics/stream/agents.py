"""Faust agents of the analytics service: one per consumed topic, each a thin loop around `Ingest`.

Shares and engagement are taken in batches: each batch's facts are stored with one bulk insert
(and its unique-click claims with another), and the batch's offsets are acknowledged only after.

The agents take raw bytes and decode them themselves: an event that does not decode, or decodes
but is unusable, goes to the topic's DLQ with the rest of its batch's poison (all sends in flight
at once, acknowledged before the batch's offsets are); the stream goes on. A batch whose store
fails is retried in place until it succeeds (`until_done`): nothing is skipped.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import faust
from advocacy.content.v1.content_pb2 import ContentPublished
from advocacy.share.v1.share_pb2 import AdvocateChanged, EngagementObserved, ShareMade
from faust.types import EventT
from google.protobuf.message import Message as ProtoMessage

from services.analytics.app.ingest import Fact, Ingest, InvalidEvent
from services.common.batching import process_batches
from services.common.logging import get_logger
from services.common.metrics import EVENT_PROCESSING_SECONDS, EVENTS_CONSUMED
from services.common.offsets import InOrder
from services.common.stream import Poison, dead_letter_all, sort_out
from services.common.topics import ADVOCATE_CHANGED, CONTENT_PUBLISHED, ENGAGEMENT_OBSERVED, SHARE_MADE, TopicSpec

log = get_logger(__name__)

# A batch is at most this many events; under load, what arrived within this time (`take_adaptive`).
BATCH_MAX_EVENTS = 500
BATCH_WITHIN_SECONDS = 0.25


def register_agents(app: faust.App, topic: Callable[[str], str], ingest: Ingest) -> None:
    # The two high-volume topics: a batch of facts in two bulk writes.
    batched: list[tuple[TopicSpec, Callable[[EventT], Fact]]] = [
        (SHARE_MADE, lambda event: ingest.fact(ShareMade.FromString(event.value), arrived_at(event))),
        (
            ENGAGEMENT_OBSERVED,
            lambda event: ingest.fact(EngagementObserved.FromString(event.value), arrived_at(event)),
        ),
    ]
    for spec, to_fact in batched:
        _register_batched(app, spec, _raw_topic(app, topic(spec.name)), to_fact, ingest)
    # Latest-state views (a conditional upsert each): low volume, one at a time.
    handlers: list[tuple[TopicSpec, Any, Callable[[Any], Awaitable[bool]]]] = [
        (CONTENT_PUBLISHED, ContentPublished, ingest.content_published),
        (ADVOCATE_CHANGED, AdvocateChanged, ingest.advocate_changed),
    ]
    for spec, message_type, handle in handlers:
        _register(app, spec, _raw_topic(app, topic(spec.name)), message_type, handle)


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


def _register_batched(
    app: faust.App, spec: TopicSpec, channel: Any, to_fact: Callable[[EventT], Fact], ingest: Ingest
) -> None:
    async def process(stream: faust.StreamT) -> None:
        # Offsets of a batch are acknowledged only after its facts are stored and its poison
        # messages are in the DLQ; a partition's events are taken in offset order, so nothing
        # Faust skipped is left behind uncommitted.
        await process_batches(stream, in_order, agent, store, BATCH_MAX_EVENTS, BATCH_WITHIN_SECONDS)

    async def store(batch: Sequence[EventT]) -> list[str]:
        facts, poison = sort_out(batch, to_fact)
        await dead_letter_all(app, poison)
        await ingest.facts(facts)
        return [spec.name] * len(facts)

    agent = f"analytics-{spec.name}"
    in_order = InOrder(app, agent)
    app.agent(channel, name=agent)(process)


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
        await process_batches(stream, in_order, agent, handle_batch, BATCH_MAX_EVENTS, BATCH_WITHIN_SECONDS)

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
