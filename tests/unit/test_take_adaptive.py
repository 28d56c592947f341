"""`take_adaptive` over a stand-in for Faust's stream: the same processor and passive-drain
contract (each event passes the stream's processors in turn; a processor that awaits holds
the stream's intake), so the batching rule is tested without a broker."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from services.common.batching import take_adaptive

LINGER = 0.3


class StandInStream:
    def __init__(self) -> None:
        self.processors: list[Any] = []
        self.acked: list[int] = []
        self.should_stop = False
        self.current_event: Any = None
        self.enable_acks = True
        self.channel: list[Any] = []
        self.log = logging.getLogger("test")

    def add_processor(self, processor: Any) -> None:
        self.processors.append(processor)

    def _enable_passive(self, channel: Any) -> None:
        pass

    async def wait(self, event: asyncio.Event) -> None:
        await event.wait()

    async def wait_for_stopped(self, event: asyncio.Event, timeout: float | None = None) -> bool:  # noqa: ASYNC109 (Faust's signature)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        return self.should_stop

    async def ack(self, event: Any) -> None:
        self.acked.append(event.value)

    async def crash(self, exc: BaseException) -> None:
        raise exc

    async def deliver(self, value: int) -> None:
        """What Faust's passive drainer does with one event."""
        self.current_event = type("Event", (), {"value": value})()
        for processor in self.processors:
            await processor(value)


async def run(stream: StandInStream, arrivals: list[tuple[float, int]], max_events: int, work: float):
    """Delivers `arrivals` ((delay before, value)) while a consumer processes each batch for
    `work` seconds; returns (seconds after the first arrival, values, acked before it) per batch."""
    batches: list[tuple[float, list[int], list[int]]] = []
    start = time.monotonic()

    async def consume() -> None:
        async for taken in take_adaptive(stream, max_events, LINGER):  # type: ignore[arg-type]
            batches.append((time.monotonic() - start, [e.value for e in taken], list(stream.acked)))
            await asyncio.sleep(work)

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0)
    start = time.monotonic()
    for delay, value in arrivals:
        await asyncio.sleep(delay)
        await stream.deliver(value)
    await asyncio.sleep(LINGER + work + 0.2)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    return batches


async def test_a_lone_event_on_an_idle_stream_is_yielded_at_once():
    stream = StandInStream()
    batches = await run(stream, [(0, 1)], max_events=100, work=0.01)
    assert [b[1] for b in batches] == [[1]]
    assert batches[0][0] < LINGER / 3  # not held for the linger
    assert stream.acked == [1]  # acknowledged once processed


async def test_events_arriving_during_a_batch_make_the_next_one_linger_and_grow():
    stream = StandInStream()
    # The first is processed at once; four more arrive while it is processed (0.1 s).
    arrivals = [(0, 1)] + [(0.01, v) for v in (2, 3, 4, 5)]
    batches = await run(stream, arrivals, max_events=100, work=0.1)
    assert [b[1] for b in batches] == [[1], [2, 3, 4, 5]]
    assert batches[1][0] >= LINGER  # the second waited for company
    # A batch's events are acknowledged only after it was processed.
    assert [b[2] for b in batches] == [[], [1]]
    assert stream.acked == [1, 2, 3, 4, 5]


async def test_a_batch_never_exceeds_its_maximum():
    stream = StandInStream()
    arrivals = [(0, 1)] + [(0.001, v) for v in range(2, 9)]
    batches = await run(stream, arrivals, max_events=3, work=0.05)
    assert all(len(b[1]) <= 3 for b in batches)
    assert [v for b in batches for v in b[1]] == list(range(1, 9))
    assert stream.acked == list(range(1, 9))
