"""Faust agents of the analytics service: one per consumed topic, each a thin loop around `Ingest`.

Shares and engagement are taken in batches: each batch's facts are stored with one bulk insert
(and its unique-click claims with another), and the batch's offsets are acknowledged only after.
A batch (or event) whose store fails is retried in place until it succeeds (`until_done`).

An event that decodes but is unusable goes to the topic's DLQ; the stream goes on.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, cast

import faust
from advocacy.content.v1.content_pb2 import ContentPublished
from advocacy.share.v1.share_pb2 import AdvocateChanged, EngagementObserved, ShareMade
from faust.types import EventT

from services.analytics.stream.ingest import Ingest, InvalidEvent
from services.common.logging import get_logger
from services.common.metrics import EVENT_PROCESSING_SECONDS, EVENTS_CONSUMED
from services.common.stream import dead_letter, proto_topic, until_done
from services.common.topics import ADVOCATE_CHANGED, CONTENT_PUBLISHED, ENGAGEMENT_OBSERVED, SHARE_MADE, TopicSpec

log = get_logger(__name__)

# A batch is at most this many events, or what arrived within this time (Faust `take_events`).
BATCH_MAX_EVENTS = 500
BATCH_WITHIN_SECONDS = 0.25


def register_agents(app: faust.App, topic: Callable[[str], str], ingest: Ingest) -> None:
    # The two high-volume topics: a batch of facts in two bulk writes.
    for spec, message_type in ((SHARE_MADE, ShareMade), (ENGAGEMENT_OBSERVED, EngagementObserved)):
        _register_batched(app, spec, proto_topic(app, topic(spec.name), message_type), ingest)
    # Latest-state views (a conditional upsert each): low volume, one at a time.
    handlers: list[tuple[TopicSpec, Any, Callable[[Any], Awaitable[bool]]]] = [
        (CONTENT_PUBLISHED, ContentPublished, ingest.content_published),
        (ADVOCATE_CHANGED, AdvocateChanged, ingest.advocate_changed),
    ]
    for spec, message_type, handle in handlers:
        _register(app, spec, proto_topic(app, topic(spec.name), message_type), handle)


def _register_batched(app: faust.App, spec: TopicSpec, channel: Any, ingest: Ingest) -> None:
    async def process(stream: faust.StreamT) -> None:
        # Offsets of a batch are acknowledged only after its facts are stored.
        async for batch in cast(faust.Stream, stream).take_events(BATCH_MAX_EVENTS, within=BATCH_WITHIN_SECONDS):
            start = time.perf_counter()
            facts = await until_done(agent, batch, partial(store_facts, batch))
            elapsed = (time.perf_counter() - start) / max(len(batch), 1)
            EVENTS_CONSUMED.labels(spec.name).inc(len(facts))
            for _ in facts:
                EVENT_PROCESSING_SECONDS.labels(spec.name).observe(elapsed)

    async def store_facts(batch: Sequence[EventT]) -> list[Any]:
        facts = []
        for event in batch:
            try:
                facts.append(ingest.fact(event.value))
            except InvalidEvent as exc:
                await dead_letter(app, event.message, "invalid", exc)
        await ingest.facts(facts)
        return facts

    agent = f"analytics-{spec.name}"
    app.agent(channel, name=agent)(process)


def _register(app: faust.App, spec: TopicSpec, channel: Any, handle: Callable[[Any], Awaitable[bool]]) -> None:
    async def process(stream: faust.StreamT) -> None:
        async for event in stream.events():
            start = time.perf_counter()
            if not await until_done(agent, [event], partial(handle_one, event)):
                continue
            EVENTS_CONSUMED.labels(spec.name).inc()
            EVENT_PROCESSING_SECONDS.labels(spec.name).observe(time.perf_counter() - start)

    async def handle_one(event: EventT) -> bool:
        """False when the event was dead-lettered."""
        try:
            await handle(event.value)
        except InvalidEvent as exc:
            await dead_letter(app, event.message, "invalid", exc)
            return False
        return True

    agent = f"analytics-{spec.name}"
    app.agent(channel, name=agent)(process)
