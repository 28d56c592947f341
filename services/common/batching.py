"""Batches that adapt to load: a lone event is processed at once, batches grow only under load.

Faust's `Stream.take_events(max, within)` always waits out `within` (or a full buffer) before it
yields, so on an idle stream every event waits up to the linger for company. `take_adaptive` is
the same mechanism (Faust's own processor + passive stream, acks after the batch is processed)
with one rule added: it lingers only when events arrived while the previous batch was being
processed, i.e. when there is load; otherwise it yields the buffer as soon as it holds an event.
Faust's take stops intake while a batch is processed, so under load the linger is what lets a
batch grow (a short fixed linger keeps batches tiny); on an idle stream it is pure latency.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from functools import partial
from typing import Any, cast

import faust
from faust.types import ChannelT, EventT
from mode.utils.aiter import aiter
from mode.utils.futures import notify

from services.common.metrics import EVENT_PROCESSING_SECONDS, EVENTS_CONSUMED
from services.common.offsets import InOrder
from services.common.stream import until_done


async def take_adaptive(stream: faust.Stream, max_events: int, linger: float) -> AsyncIterator[list[EventT]]:
    """Yields lists of at most `max_events` events; under load what arrives within `linger`.
    Each list's events are acknowledged after the consumer of this generator asks for the next."""
    events: list[EventT] = []
    ready, full, consumed = asyncio.Event(), asyncio.Event(), asyncio.Event()
    consuming: asyncio.Future[None] | None = None
    arrived_while_busy = False

    async def add_to_buffer(value: Any) -> Any:
        nonlocal consuming, arrived_while_busy
        try:
            if consuming is not None:  # a batch is being processed: hold this event until it is done
                arrived_while_busy = True
                await consuming
            event = stream.current_event
            if event is None:
                raise RuntimeError("take_adaptive found current_event is None")
            events.append(event)
            ready.set()
            if len(events) >= max_events:
                full.set()
                consumed.clear()
                await stream.wait(consumed)  # type: ignore[arg-type]  # mode accepts any awaitable .wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            stream.log.exception("Error adding to take buffer: %r", exc)
            await stream.crash(exc)
        return value

    stream.enable_acks = False  # acknowledged here, after the batch is processed
    stream.add_processor(add_to_buffer)
    stream._enable_passive(cast(ChannelT, aiter(stream.channel)))
    while not stream.should_stop:
        await stream.wait_for_stopped(ready)  # type: ignore[arg-type]
        if not events:
            continue
        if arrived_while_busy and not full.is_set():
            await stream.wait_for_stopped(full, timeout=linger)  # type: ignore[arg-type]
        arrived_while_busy = False
        consuming = asyncio.get_running_loop().create_future()
        try:
            yield list(events)
        finally:
            for event in events:
                await stream.ack(event)
            events.clear()
            ready.clear()
            notify(consuming)
            consuming = None
            full.clear()
            consumed.set()


async def process_batches(
    stream: faust.StreamT,
    in_order: InOrder,
    agent: str,
    process: Callable[[Sequence[EventT]], Awaitable[Sequence[str] | None]],
    max_events: int,
    linger: float,
) -> None:
    """An agent's loop: batches taken adaptively, admitted in offset order per partition (what
    Faust delivered ahead waits), each processed until it succeeds (`until_done`: never skipped).
    A `process` that returns the topic label of each event it processed has them counted consumed,
    the batch's time spread over them; one that returns None counts nothing."""
    async for taken in take_adaptive(cast(faust.Stream, stream), max_events, linger):
        batch = await in_order.admit(taken)
        if not batch:
            continue
        start = time.perf_counter()
        labels = await until_done(agent, batch, partial(process, batch))
        if labels:
            elapsed = (time.perf_counter() - start) / len(labels)
            for label in labels:
                EVENTS_CONSUMED.labels(label).inc()
                EVENT_PROCESSING_SECONDS.labels(label).observe(elapsed)
