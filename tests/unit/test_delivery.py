"""How the patched fetcher hands messages to the streams (services/common/delivery.py): every
message of a fetch in order, one race against a flow suspension per fetch instead of one per
message, and a suspension still interrupts a delivery that waits on a full stream buffer.

The patched loop runs on a stand-in holding the consumer's fields it reads (Faust's `Consumer` is
abstract), with mode's own `Service.wait_first`."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace

import pytest
from faust.transport.consumer import Consumer
from faust.types import TP
from faust.types.tuples import ConsumerMessage
from mode.services import Service

from services.common.delivery import deliver_per_fetch

TP0 = TP("share-made", 0)
TP1 = TP("share-made", 1)


def message(offset: int, tp: TP = TP0) -> ConsumerMessage:
    return ConsumerMessage(tp.topic, tp.partition, offset, 0.0, 0, None, b"k", b"v", None)


class StandIn:
    """The consumer's fields `_drain_messages` reads; `fetches` are what successive getmany calls
    return; the fetcher stops after the last one."""

    def __init__(self, fetches: list[list[ConsumerMessage]], callback) -> None:
        self.fetches = list(fetches)
        self.callback = callback
        self._stopped = asyncio.Event()
        self._crashed = asyncio.Event()
        self.suspend_flow = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        self._read_offset = defaultdict(lambda: None)
        self._commit_every = None
        self._n_acked = 0
        self.should_stop = False
        self.app = SimpleNamespace(topics=SimpleNamespace(acks_enabled_for=lambda topic: True))
        self.diag = SimpleNamespace(set_flag=lambda flag: None, unset_flag=lambda flag: None)
        self.fetcher = SimpleNamespace(_stopped=asyncio.Event())
        self.races = 0
        self.consumer_stopped_errors = ()
        self.log = SimpleNamespace(exception=lambda *args: None, info=lambda *args: None)

    async def getmany(self, timeout: float):  # noqa: ASYNC109 (Faust's signature)
        if not self.fetches:
            self.fetcher._stopped.set()
            return
        for m in self.fetches.pop(0):
            yield TP(m.topic, m.partition), m

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait_first(self, *coros):
        self.races += 1
        return await Service.wait_first(self, *coros)  # type: ignore[arg-type]

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        return None


async def drain(consumer: StandIn) -> None:
    deliver_per_fetch()
    await Consumer._drain_messages(consumer, consumer.fetcher)  # type: ignore[arg-type]


def test_every_message_of_every_fetch_is_delivered_in_order_with_one_race_per_fetch():
    async def scenario():
        delivered = []

        async def callback(m):
            delivered.append((m.partition, m.offset))

        fetches = [[message(o) for o in range(0, 250)], [message(250), message(0, TP1), message(251)]]
        consumer = StandIn(fetches, callback)
        await drain(consumer)
        return consumer, delivered

    consumer, delivered = asyncio.run(scenario())
    assert delivered == [(0, o) for o in range(250)] + [(0, 250), (1, 0), (0, 251)]
    assert consumer.races == 2  # unpatched Faust: one wait_first (four tasks) per message, 253
    assert consumer._read_offset[TP0] == 251 and consumer._read_offset[TP1] == 0


def test_a_message_below_the_read_offset_is_not_delivered_again():
    async def scenario():
        delivered = []

        async def callback(m):
            delivered.append(m.offset)

        consumer = StandIn([[message(5), message(6)], [message(5), message(7)]], callback)
        await drain(consumer)
        return delivered

    assert asyncio.run(scenario()) == [5, 6, 7]  # Faust's rule: offsets below the read offset drop


def test_a_suspension_interrupts_a_blocked_delivery_and_the_rest_of_its_fetch():
    async def scenario():
        delivered = []
        buffer_full = asyncio.Event()  # never set: the stream's buffer stays full

        async def callback(m):
            if m.offset == 2:
                consumer.suspend_flow.set()  # a rebalance starts while this message waits
                await buffer_full.wait()
            delivered.append(m.offset)

        consumer = StandIn([[message(o) for o in range(5)]], callback)
        await asyncio.wait_for(drain(consumer), timeout=5)
        return consumer, delivered

    consumer, delivered = asyncio.run(scenario())
    assert delivered == [0, 1]
    # Only delivered messages count as read: after the seek back they are fetched again.
    assert consumer._read_offset[TP0] == 1


def test_a_callback_error_stops_the_fetcher_loudly():
    async def scenario():
        async def callback(m):
            raise RuntimeError("boom")

        await drain(StandIn([[message(0)]], callback))

    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(scenario())
