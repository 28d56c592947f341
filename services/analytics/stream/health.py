"""The `analytics-health` agent: share-made, lesson-completed and advocate-changed (all keyed by
advocate id, 8 partitions) into the health states and aggregates (`app/health.py`).

Apart from `analytics-facts`, so the rollups stay as they are: Faust delivers each share-made
record to both agents and commits its offset once both acknowledged it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import faust
from advocacy.content.v1.content_pb2 import LessonCompleted
from advocacy.share.v1.share_pb2 import AdvocateChanged, ShareMade
from faust.types import EventT

from services.analytics.app.health import HealthEvent, HealthProcessor, HealthSink
from services.analytics.domain import health as h
from services.common.batching import process_batches
from services.common.events import nonzero_time
from services.common.logging import get_logger
from services.common.offsets import InOrder
from services.common.stream import DurableTable, acting_as, dead_letter_all, durable_table, sort_out, topic_label
from services.common.topics import ADVOCATE_CHANGED, LESSON_COMPLETED, SHARE_MADE

log = get_logger(__name__)
AGENT = "analytics-health"
BATCH_WITHIN_SECONDS = 1.0


class TableHealthRecords:
    """`app/health.py` `HealthRecords` on one changelogged table (values: JSON)."""

    def __init__(self, table: DurableTable) -> None:
        self._table = table

    def load(self, record_id: str, anchor: Any) -> dict[str, Any] | None:
        with acting_as(anchor):  # the store partition is the anchor event's
            return cast(dict[str, Any] | None, self._table.get(record_id))

    def put(self, records: Mapping[str, Any], anchor: Any) -> None:
        with acting_as(anchor):  # the changelog partition is the anchor event's
            for record_id, value in records.items():
                if value is None:
                    self._table.pop(record_id, None)  # a tombstone in the changelog
                else:
                    self._table[record_id] = value

    async def durable(self) -> None:
        await self._table.changelog_acknowledged()


def _required(value: Any, name: str) -> Any:
    if not value:
        raise ValueError(f"{name}: missing")
    return value


def _share(raw: bytes) -> tuple[str, h.Share]:
    m = ShareMade.FromString(raw)
    at = _required(nonzero_time(m.occurred_at), "occurred_at")
    advocate = _required(m.advocate.advocate_id, "advocate.advocate_id")
    return advocate, h.Share(_required(m.event_id, "event_id"), at, m.advocate.team, m.advocate.leader)


def _completion(raw: bytes) -> tuple[str, h.Completion]:
    m = LessonCompleted.FromString(raw)
    at = _required(nonzero_time(m.occurred_at), "occurred_at")
    advocate = _required(m.advocate.advocate_id, "advocate.advocate_id")
    lesson = _required(m.lesson_id, "lesson_id")
    return advocate, h.Completion(_required(m.event_id, "event_id"), at, lesson, m.advocate.team, m.lesson_title)


def _enrolment(raw: bytes) -> tuple[str, h.Enrolment]:
    m = AdvocateChanged.FromString(raw)
    profile = m.advocate.profile
    advocate = _required(profile.advocate_id, "advocate.profile.advocate_id")
    starts = [_required(nonzero_time(p.enrolled_at), "enrolments.enrolled_at") for p in m.enrolments]
    open_now = any(not nonzero_time(p.left_at) for p in m.enrolments)
    first = min(starts, default=None)
    event_id = m.event_id or f"v{m.version}"
    return advocate, h.Enrolment(event_id, m.version, profile.team, profile.leader, first, open_now)


DECODERS: dict[str, Callable[[bytes], tuple[str, h.Share | h.Completion | h.Enrolment]]] = {
    SHARE_MADE.name: _share,
    LESSON_COMPLETED.name: _completion,
    ADVOCATE_CHANGED.name: _enrolment,
}


def register_health(
    app: faust.App, topic: Callable[[str], str], documents: Callable[[], HealthSink], batch_max_events: int
) -> None:
    names = [topic(spec.name) for spec in (SHARE_MADE, LESSON_COMPLETED, ADVOCATE_CHANGED)]
    channel = app.topic(*names, key_serializer="raw", value_serializer="raw")
    records = TableHealthRecords(durable_table(app, "analytics-health", key_type=str, value_type=None))
    processor = HealthProcessor(lambda: records, documents)

    def decode(event: EventT) -> HealthEvent:
        message = event.message
        label = topic_label(app, message.topic)
        advocate_id, decoded = DECODERS[label](event.value)
        return HealthEvent(label, message.partition, message.offset, advocate_id, decoded, event)

    async def process(stream: faust.StreamT) -> None:
        # Offsets are acknowledged only after the batch's states are durable and its documents
        # written; a partition's events are taken in offset order (the states skip by offset).
        await process_batches(stream, in_order, AGENT, store, batch_max_events, BATCH_WITHIN_SECONDS)

    async def store(batch: Sequence[EventT]) -> None:
        # Returns None: `analytics-facts` already counts these share-made events consumed.
        items, poison = sort_out(batch, decode)
        # Only lesson-completed is this agent's alone: a bad share-made or advocate-changed record
        # is dead-lettered by the other agent reading it (once in the DLQ, not twice).
        ours = [p for p in poison if topic_label(app, p.message.topic) == LESSON_COMPLETED.name]
        for p in poison:
            if p not in ours:
                log.warning("health_skipped_unusable", topic=p.message.topic, offset=p.message.offset, error=p.error)
        await dead_letter_all(app, ours)
        await processor.process(items)

    in_order = InOrder(app, AGENT)
    app.agent(channel, name=AGENT)(process)
