"""Faust agents of the analytics service: one per consumed topic, each a thin loop around `Ingest`.

An event that decodes but is unusable goes to the topic's DLQ; the stream goes on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from advocacy.content.v1.content_pb2 import ContentPublished
from advocacy.share.v1.share_pb2 import AdvocateChanged, EngagementObserved, ShareMade
from pymongo.errors import PyMongoError

from services.analytics.stream.ingest import Ingest, InvalidEvent
from services.common.logging import get_logger
from services.common.metrics import EVENT_PROCESSING_SECONDS, EVENTS_CONSUMED
from services.common.stream import dead_letter, proto_topic
from services.common.topics import ADVOCATE_CHANGED, CONTENT_PUBLISHED, ENGAGEMENT_OBSERVED, SHARE_MADE, TopicSpec

log = get_logger(__name__)

RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 10.0


async def with_retry(
    handle: Callable[[Any], Awaitable[bool]],
    value: Any,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> bool:
    """Retries a database failure until it succeeds (with capped backoff): every handler is
    idempotent, so a retry after a write that did land changes nothing, and the offset is not
    committed past an event whose effect is unknown."""
    delay = RETRY_FIRST_SECONDS
    while True:
        try:
            return await handle(value)
        except PyMongoError as exc:
            log.warning("analytics_store_retry", error=str(exc)[:300], delay_seconds=delay)
            await sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)


def register_agents(app: faust.App, topic: Callable[[str], str], ingest: Ingest) -> None:
    handlers: list[tuple[TopicSpec, Any, Callable[[Any], Awaitable[bool]]]] = [
        (CONTENT_PUBLISHED, ContentPublished, ingest.content_published),
        (ADVOCATE_CHANGED, AdvocateChanged, ingest.advocate_changed),
        (SHARE_MADE, ShareMade, ingest.share_made),
        (ENGAGEMENT_OBSERVED, EngagementObserved, ingest.engagement_observed),
    ]
    for spec, message_type, handle in handlers:
        _register(app, spec, proto_topic(app, topic(spec.name), message_type), handle)


def _register(app: faust.App, spec: TopicSpec, channel: Any, handle: Callable[[Any], Awaitable[bool]]) -> None:
    async def process(stream: faust.StreamT) -> None:
        async for event in stream.events():
            start = time.perf_counter()
            try:
                await with_retry(handle, event.value)
            except InvalidEvent as exc:
                await dead_letter(app, event.message, "invalid", exc)
                continue
            EVENTS_CONSUMED.labels(spec.name).inc()
            EVENT_PROCESSING_SECONDS.labels(spec.name).observe(time.perf_counter() - start)

    app.agent(channel, name=f"analytics-{spec.name}")(process)
