"""What a worker commits and in which order it processes: nothing is committed before it was
processed, nothing delivered is dropped without being fetched again (the five Faust behaviours
patched in services/common/offsets.py), and an event delivered ahead of unprocessed ones is held
back while its partition is fetched again.

The patched methods run on a stand-in holding the consumer's bookkeeping (Faust's `Consumer` is
abstract); the stand-in's fields are the ones Faust's own methods read."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

from faust.transport.consumer import Consumer
from faust.types import TP
from faust.types.tuples import ConsumerMessage
from intervaltree import IntervalTree
from mode.utils.queues import FlowControlEvent, FlowControlQueue

from services.common.offsets import RESEEK_AFTER_SECONDS, InOrder, commit_only_processed

TP0 = TP("share-made", 0)
TP1 = TP("share-made", 1)


def consumer(committed: int | None, generation: int = 7, flowing: bool = True) -> SimpleNamespace:
    commit_only_processed()
    app = SimpleNamespace(
        consumer_generation_id=generation,
        flow_control=SimpleNamespace(is_active=lambda: flowing),
        topics=SimpleNamespace(acks_enabled_for=lambda topic: True),
    )
    return SimpleNamespace(
        app=app,
        _committed_offset=defaultdict(lambda: None, {TP0: committed}),
        _acked=defaultdict(list),
        _acked_index=defaultdict(set),
        _gap=defaultdict(IntervalTree),
        _unacked_messages=set(),
        _n_acked=0,
        _waiting_for_ack=None,
    )


def message(offset: int, tp: TP = TP0, generation: int = 7) -> ConsumerMessage:
    m = ConsumerMessage(tp.topic, tp.partition, offset, 0.0, 0, None, b"k", b"v", None, generation_id=generation)
    m.refcount = 1
    return m


def acked(c: SimpleNamespace, *offsets: int) -> None:
    for offset in offsets:
        assert Consumer.ack(c, message(offset)) is True


def test_nothing_is_committed_past_an_unacknowledged_head_event():
    c = consumer(committed=10)
    acked(c, 11, 12, 13)  # 10 is still being processed
    assert Consumer._new_offset(c, TP0) is None  # unpatched Faust: 14 (faust-streaming#606)
    acked(c, 10)
    assert Consumer._new_offset(c, TP0) == 14


def test_the_acknowledged_run_is_committed_up_to_its_first_hole():
    c = consumer(committed=10)
    acked(c, 10, 11, 13)
    assert Consumer._new_offset(c, TP0) == 12


async def test_a_jump_in_fetched_offsets_is_never_taken_for_a_gap():
    c = consumer(committed=10)
    await Consumer._add_gap(c, TP0, 11, 40)
    acked(c, 10, 41)
    assert not c._gap[TP0]
    assert Consumer._new_offset(c, TP0) == 11  # unpatched Faust: 42, as if 11..40 were done


def test_an_event_faust_skipped_during_a_rebalance_is_not_recorded_as_acknowledged():
    suspended = consumer(committed=10, flowing=False)
    assert Consumer.ack(suspended, message(10)) is False
    older = consumer(committed=10, generation=8)
    assert Consumer.ack(older, message(10, generation=7)) is False
    for c in (suspended, older):
        assert not c._acked[TP0]
        assert Consumer._new_offset(c, TP0) is None


async def test_resuming_a_flowing_stream_keeps_what_its_buffer_holds():
    commit_only_processed()
    flow = FlowControlEvent()  # suspended, as a worker starts
    buffer: FlowControlQueue[int] = FlowControlQueue(flow_control=flow, clear_on_resume=True)
    buffer.put_nowait(1)
    flow.resume()  # events of before the assignment: dropped (Faust seeks back to them)
    assert buffer.qsize() == 0
    buffer.put_nowait(2)
    flow.resume()  # the end of a recovery, already flowing (unpatched mode: cleared, never refetched)
    assert buffer.qsize() == 1
    flow.suspend()
    flow.resume()
    assert buffer.qsize() == 0


async def test_the_seek_after_an_assignment_puts_partitions_never_committed_at_the_log_start():
    commit_only_processed()
    changelog = TP("advocacy-analytics-rollups-changelog", 0)
    sought: dict[TP, int] = {}

    async def seek_to_committed() -> dict[TP, int | None]:
        return {TP0: 10, TP1: None, changelog: None}

    async def earliest_offsets(*partitions: TP) -> dict[TP, int]:
        return {tp: 40 for tp in partitions}

    async def seek_wait(partitions: dict[TP, int]) -> None:
        sought.update(partitions)

    c = SimpleNamespace(
        _read_offset=defaultdict(lambda: None),
        _committed_offset=defaultdict(lambda: None),
        seek_to_committed=seek_to_committed,
        earliest_offsets=earliest_offsets,
        seek_wait=seek_wait,
        assignment=lambda: {TP0, TP1, changelog},
        _is_changelog_tp=lambda tp: tp == changelog,
    )
    await Consumer.perform_seek(c)  # type: ignore[arg-type]
    assert c._committed_offset[TP0] == 10
    assert sought == {TP1: 40}  # aiokafka alone leaves it wherever it was fetching


class FakeApp:
    def __init__(self, committed: dict[TP, int], log_starts: dict[TP, int] | None = None) -> None:
        # Only `seek_wait`, which seeks in the consumer's thread: `seek` seeks from the caller's.
        self.consumer = SimpleNamespace(
            _committed_offset=committed, seek_wait=self._seek_wait, earliest_offsets=self._earliest
        )
        self.on_partitions_assigned = SimpleNamespace(connect=lambda handler: None)
        self.seeks: list[tuple[TP, int]] = []
        self.log_starts = log_starts or {}

    async def _seek_wait(self, partitions: dict[TP, int]) -> None:
        self.seeks.extend(partitions.items())

    async def _earliest(self, *partitions: TP) -> dict[TP, int]:
        return {tp: self.log_starts.get(tp, 0) for tp in partitions}


def events(*positions: tuple[TP, int]) -> list[SimpleNamespace]:
    return [SimpleNamespace(message=message(offset, tp)) for tp, offset in positions]


async def test_events_in_offset_order_are_all_admitted():
    app = FakeApp({TP0: 5})
    guard = InOrder(app, "award")  # type: ignore[arg-type]
    batch = events((TP0, 5), (TP1, 0), (TP0, 6), (TP1, 1))
    assert await guard.admit(batch) == batch
    assert await guard.admit(events((TP0, 7))) != []
    assert app.seeks == []


async def test_an_event_ahead_of_unprocessed_ones_is_held_back_and_its_partition_fetched_again():
    app = FakeApp({TP0: 5, TP1: 3})
    guard = InOrder(app, "award")  # type: ignore[arg-type]
    batch = events((TP0, 5), (TP1, 3), (TP0, 9), (TP0, 10), (TP1, 4))
    admitted = await guard.admit(batch)
    assert [(e.message.tp, e.message.offset) for e in admitted] == [(TP0, 5), (TP1, 3), (TP1, 4)]
    assert app.seeks == [(TP0, 6)]
    held = [e for e in batch if e not in admitted]
    assert all(e.message.acked for e in held)  # Faust's later ack of them is a no-op
    # Fetched again from 6: admitted in order from there.
    again = events((TP0, 6), (TP0, 7), (TP0, 8), (TP0, 9))
    assert await guard.admit(again) == again


async def test_the_first_event_after_an_assignment_must_be_at_the_committed_offset():
    app = FakeApp({TP0: 8224})
    guard = InOrder(app, "award")  # type: ignore[arg-type]
    # A restarted worker handed offset 8277 first while 8224.. were never processed must not skip them.
    assert await guard.admit(events((TP0, 8277), (TP0, 8278))) == []
    assert app.seeks == [(TP0, 8224)]
    await guard._forget(None)
    assert await guard.admit(events((TP0, 8224))) != []


async def test_on_a_partition_never_committed_the_first_event_must_be_at_the_log_start():
    app = FakeApp({}, log_starts={TP1: 40})
    guard = InOrder(app, "rank-early-sharers")  # type: ignore[arg-type]
    # Events 0.. of a partition no worker committed were dropped; a later share arrives first.
    assert await guard.admit(events((TP0, 3))) == []
    assert await guard.admit(events((TP1, 41))) == []
    assert app.seeks == [(TP0, 0), (TP1, 40)]
    assert await guard.admit(events((TP0, 0), (TP1, 40))) != []


async def test_events_buffered_ahead_of_a_seek_do_not_seek_again_until_the_refetch_is_overdue():
    app = FakeApp({TP0: 100})
    now = [0.0]
    guard = InOrder(app, "rank-early-sharers", clock=lambda: now[0])  # type: ignore[arg-type]
    # A one-event agent after a restart: the events buffered ahead arrive one by one.
    for offset in (140, 141, 142):
        assert await guard.admit(events((TP0, offset))) == []
    assert app.seeks == [(TP0, 100)]
    now[0] = RESEEK_AFTER_SECONDS + 0.1  # the refetch never came: sought again
    assert await guard.admit(events((TP0, 143))) == []
    assert app.seeks == [(TP0, 100), (TP0, 100)]
    assert await guard.admit(events((TP0, 100))) != []
    assert await guard.admit(events((TP0, 102))) == []  # a new gap is sought at once
    assert app.seeks[-1] == (TP0, 101)
