"""Offsets are committed only for events an agent processed, and an order-sensitive agent never
processes an event before the unprocessed events ahead of it on its partition.

Otherwise a worker restarted after a crash resumes past events no process ever handled, and they
are lost. faust-streaming commits past events no agent processed in three ways, and drops
delivered events without fetching them again in two more; all five are patched here
(`commit_only_processed`, applied by `create_app`):

1. A stream skips an event fetched while flow control is suspended (recovery, rebalance) or from
   an older consumer generation, and ACKS it ("otherwise the lag would increase", faust/streams.py).
   Faust seeks back to the committed offset afterwards, but that ack can be committed first. Here
   such an acknowledgement is not recorded: the event stays uncommitted until it is processed.
2. `_new_offset` commits past ONE unacknowledged event at the head of the acknowledged run
   (faust-streaming#606). Here nothing is committed until the head event itself is acknowledged.
3. A jump in fetched offsets is taken for a compacted-topic gap and committed as done. Our input
   topics are neither compacted nor transactional, so every offset is an event: no gap is assumed.
4. Resuming the flow clears every stream's buffer, and the end of a recovery resumes it again
   although it is already flowing: the events fetched since the stream partitions were resumed,
   past the seek to the committed offsets just before, were dropped and never fetched again (a
   worker restarted on a backlog stalled with them unprocessed). Here a resume clears the buffers
   only when the flow was suspended, which is when they hold events of an older assignment.
5. That seek leaves a partition without a committed offset where it is (aiokafka seeks only to a
   committed offset above 0), so what was fetched and dropped there is never fetched again. Here
   such a partition is sought to the start of its log, where its consumption starts.

The cost is at most a redelivery, which every agent's effects tolerate (idempotent), never a loss.

Faust may also deliver an event ahead of the ones before it (records prefetched before a seek,
faust-streaming#221, or dropped as "already read" after it). `InOrder` holds such an event back
(unacknowledged) and seeks its partition to the first unprocessed offset (on a partition never
committed, the start of its log), so the agent sees the partition in offset order again: the
rewards state records the highest offset applied per partition, and processing a later event
first would make it skip the earlier ones for good.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import faust
from faust.transport.consumer import Consumer
from faust.types import TP, EventT
from mode.utils.queues import FlowControlEvent

from services.common.logging import get_logger
from services.common.metrics import SKIPPED_ACKS_REFUSED, STREAM_OUT_OF_ORDER

log = get_logger(__name__)


def commit_only_processed() -> None:
    """Patches Faust's consumer and flow control (idempotent): see the module docstring, points 1-5."""
    if getattr(Consumer, "_advocacy_patched", False):
        return
    faust_ack = Consumer.ack
    faust_new_offset = Consumer._new_offset
    faust_perform_seek = Consumer.perform_seek

    def ack(self: Consumer, message: Any) -> bool:
        app = self.app
        if message.generation_id != app.consumer_generation_id or not app.flow_control.is_active():
            # Skipped (or finished across a rebalance): delivered again after the seek back.
            message.acked = True
            self._unacked_messages.discard(message)
            SKIPPED_ACKS_REFUSED.inc()
            return False
        return faust_ack(self, message)

    def new_offset(self: Consumer, tp: TP) -> int | None:
        acked = self._acked[tp]
        committed = self._committed_offset[tp]
        if acked and committed is not None and min(acked) != committed:
            return None  # the event at the committed offset is not acknowledged yet
        return faust_new_offset(self, tp)

    async def add_gap(self: Consumer, tp: TP, offset_from: int, offset_to: int) -> None:
        return None  # a jump is not a gap in our topics: the events are fetched again

    def resume(self: FlowControlEvent) -> None:
        suspended = not self.is_active()
        self._suspend.clear()
        self._resume.set()
        if suspended:
            self.clear()

    async def perform_seek(self: Consumer) -> None:
        await faust_perform_seek(self)
        committed = self._committed_offset
        never = [tp for tp in self.assignment() if not self._is_changelog_tp(tp) and not committed.get(tp)]
        if never:
            starts = await self.earliest_offsets(*never)
            await self.seek_wait({tp: starts.get(tp) or 0 for tp in never})

    Consumer.ack = ack  # type: ignore[method-assign]
    Consumer._new_offset = new_offset  # type: ignore[method-assign]
    Consumer._add_gap = add_gap  # type: ignore[method-assign]
    Consumer.perform_seek = perform_seek  # type: ignore[method-assign]
    FlowControlEvent.resume = resume  # type: ignore[method-assign]
    Consumer._advocacy_patched = True  # type: ignore[attr-defined]


def withhold_acks(events: Sequence[EventT]) -> None:
    """Makes Faust's later ack of these events a no-op (`Message.ack` skips a message marked
    acked), so the consumer never records them and never commits their offsets."""
    for event in events:
        event.message.acked = True


# A partition sought back is not sought again for the events already buffered ahead of the seek
# (after a restart a one-event agent meets hundreds of them), unless the refetch has not arrived by then.
RESEEK_AFTER_SECONDS = 2.0


class InOrder:
    """Per partition, the next offset this worker must process (known after its first event, or
    from the committed offset Faust seeked to on assignment, or else the start of the log)."""

    def __init__(self, app: faust.App, agent: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.agent = agent
        self.clock = clock
        self._next: dict[TP, int] = {}
        self._sought: dict[TP, tuple[int, float]] = {}  # partition -> (offset, when)
        self._log_starts: dict[TP, int] = {}
        app.on_partitions_assigned.connect(cast(Any, self._forget))  # Faust seeks to the committed offsets

    async def _forget(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        self._next.clear()
        self._sought.clear()
        self._log_starts.clear()

    def committed(self, tp: TP) -> int | None:
        return cast(Consumer, self.app.consumer)._committed_offset.get(tp)

    async def _first_unprocessed(self, tp: TP) -> int:
        """Where this assignment's consumption of the partition starts: the committed offset, or
        the start of the log when the group never committed one."""
        committed = self.committed(tp)
        if committed is not None:
            return committed
        if tp not in self._log_starts:
            starts = await cast(Consumer, self.app.consumer).earliest_offsets(tp)
            self._log_starts[tp] = starts.get(tp) or 0
        return self._log_starts[tp]

    async def admit(self, events: Sequence[EventT]) -> list[EventT]:
        """The events to process now, in order; the others are withheld from acknowledgement and
        their partitions fetched again from the first offset not processed."""
        admitted: list[EventT] = []
        held: list[EventT] = []
        refetch: dict[TP, int] = {}
        for event in events:
            tp, offset = event.message.tp, event.message.offset
            if tp in refetch:
                held.append(event)
                continue
            expected = self._next.get(tp)
            if expected is None:
                expected = await self._first_unprocessed(tp)
            if offset > expected:
                refetch[tp] = expected
                held.append(event)
                continue
            admitted.append(event)  # (below `expected`: delivered again after a seek; idempotent)
            self._next[tp] = max(offset + 1, self._next.get(tp, 0))
        withhold_acks(held)  # never recorded, never committed: fetched again
        now = self.clock()
        for tp, offset in list(refetch.items()):
            sought = self._sought.get(tp)
            if sought is not None and sought[0] == offset and now - sought[1] < RESEEK_AFTER_SECONDS:
                del refetch[tp]  # already on its way
                continue
            self._sought[tp] = (offset, now)
            STREAM_OUT_OF_ORDER.labels(self.agent).inc()
            log.warning("out_of_order_refetch", agent=self.agent, topic=tp.topic, partition=tp.partition, offset=offset)
        if refetch:
            # In the consumer's own thread: aiokafka is not thread-safe, and `Consumer.seek` seeks
            # from this one (racing the fetcher, whose KeyError then crashes the worker).
            await cast(Consumer, self.app.consumer).seek_wait(refetch)
        return admitted
