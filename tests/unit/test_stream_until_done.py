"""How the stream agents run a batch: failures are retried in place, never left to Faust (which
would acknowledge the batch anyway), and a batch cut short by cancellation is never acknowledged."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from faust.types.tuples import Message
from pymongo.errors import AutoReconnect

from services.common.stream import until_done


def event(offset: int) -> SimpleNamespace:
    message = Message("t", 0, offset, 0.0, 0, None, b"k", b"v", None)
    return SimpleNamespace(message=message)


class Consumer:
    """Records what a Faust consumer would be told is acknowledged (and so committable)."""

    def __init__(self) -> None:
        self.acked: list[int] = []

    def ack(self, message: Message) -> bool:
        self.acked.append(message.offset)
        return True


def faust_ack(events, consumer: Consumer) -> None:
    # What Faust does with a batch after the agent's body, in a `finally`: success or not.
    for e in events:
        if not e.message.acked:
            e.message.acked = True
            consumer.ack(e.message)


async def test_a_failure_is_retried_with_backoff_until_it_succeeds():
    calls: list[int] = []
    waits: list[float] = []
    retries: list[int] = []

    async def attempt() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise AutoReconnect("store down")
        return "done"

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    batch = [event(1), event(2)]
    result = await until_done("t", batch, attempt, lambda: retries.append(1), sleep=sleep)
    assert result == "done"
    assert len(calls) == 4 and len(retries) == 3
    # 0.5 s doubling, each with up to 0.5 s of jitter (services/common/retry.py).
    assert len(waits) == 3 and all(0 <= w - 0.5 * 2**n <= 0.5 for n, w in enumerate(waits))
    consumer = Consumer()
    faust_ack(batch, consumer)
    assert consumer.acked == [1, 2]  # done: acknowledged as usual


async def test_a_batch_cancelled_midway_is_never_acknowledged():
    started = asyncio.Event()

    async def attempt() -> None:
        started.set()
        await asyncio.sleep(60)

    batch = [event(7), event(8)]
    task = asyncio.create_task(until_done("t", batch, attempt))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    consumer = Consumer()
    faust_ack(batch, consumer)
    assert consumer.acked == []  # delivered again after the restart
