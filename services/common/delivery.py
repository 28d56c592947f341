"""Faust hands fetched messages to the streams one fetch at a time, not one task set per message.

faust-streaming's fetcher (`Consumer._drain_messages`) passes each message to the streams inside
`Service.wait_first(callback(message), suspend_flow.wait())`, so that a rebalance can interrupt a
delivery blocked on a full stream buffer. `wait_first` creates four tasks per message (the
callback, the suspend event, the stopped and crashed events), waits for the first and cancels the
rest: with many small messages (poison among them) that wrapper costs more CPU than decoding,
dead-lettering and the stream itself.

`deliver_per_fetch` (applied by `create_app`) keeps the interruption, per fetch: one task delivers
all messages of a fetch in order and one `wait_first` races it against `suspend_flow`. Everything
else is Faust's loop as it is: the offset bookkeeping, the commit every `commit_every` acks, the
yield to the event loop every 100 messages, the error handling. When the flow is suspended, the
messages of the fetch not yet delivered are dropped, as Faust's own `getmany` drops them when the
flow stops mid-fetch; the seek to the committed offsets that follows a suspension fetches them
again, and `services.common.offsets` makes sure nothing undelivered is committed before that.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

from faust.transport.consumer import CONSUMER_FETCHING, Consumer
from faust.types import TP
from faust.types.tuples import Message

YIELD_EVERY = 100  # messages: Faust's value, so a long fetch does not starve the event loop


def deliver_per_fetch() -> None:
    """Patches Faust's consumer (idempotent): see the module docstring."""
    if getattr(Consumer, "_advocacy_delivers_per_fetch", False):
        return
    Consumer._drain_messages = _drain_messages  # type: ignore[method-assign]
    Consumer._advocacy_delivers_per_fetch = True  # type: ignore[attr-defined]


async def _drain_messages(self: Consumer, fetcher: Any) -> None:
    # Faust's `Consumer._drain_messages` (faust-streaming 0.15.3), with the per-message wait_first
    # moved around the whole fetch.
    consumer_should_stop = cast(Any, self)._stopped.is_set
    fetcher_should_stop = fetcher._stopped.is_set
    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            self.diag.set_flag(CONSUMER_FETCHING)
            fetched = cast(AsyncIterator[tuple[TP, Message]], self.getmany(timeout=1.0))
            # Faust's: getmany may return at once, again and again, without releasing the loop.
            await self.sleep(0)
            if not self.should_stop:
                # The fetch (which waits while the flow is suspended) stays outside the race, as
                # in Faust: inside, a suspended flow would cancel it at once, again and again.
                first = await anext(fetched, None)
                if first is not None:
                    await self.wait_first(_deliver(self, first, fetched), self.suspend_flow.wait())
            self.diag.unset_flag(CONSUMER_FETCHING)
    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            self.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            self.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        self.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        self.diag.unset_flag(CONSUMER_FETCHING)


async def _deliver(self: Consumer, first: tuple[TP, Message], fetched: AsyncIterator[tuple[TP, Message]]) -> None:
    """Hands a fetch's messages to the streams in order: the per-message body of Faust's loop."""
    callback = self.callback
    get_read_offset = self._read_offset.__getitem__
    set_read_offset = self._read_offset.__setitem__
    acks_enabled_for = self.app.topics.acks_enabled_for
    since_yield = 0
    tp, message = first
    while True:
        since_yield += 1
        if since_yield > YIELD_EVERY:
            await asyncio.sleep(0)
            since_yield = 0
        offset = message.offset
        r_offset = get_read_offset(tp)
        if r_offset is None or offset >= r_offset:
            gap = offset - (r_offset or 0)
            if gap > 1 and r_offset and acks_enabled_for(message.topic):
                await self._add_gap(tp, r_offset + 1, offset)
            commit_every = self._commit_every
            if commit_every is not None and self._n_acked >= commit_every:
                self._n_acked = 0
                await asyncio.shield(self.commit())  # a suspension does not cut a commit short
            await callback(message)
            set_read_offset(tp, offset)
        try:
            tp, message = await anext(fetched)  # synchronous: the fetch itself was the first step
        except StopAsyncIteration:
            return
