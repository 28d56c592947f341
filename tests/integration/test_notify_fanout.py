"""A company-wide item told to a whole company (300 advocates, as the demo company): every advocate
gets it once, and how long planning and delivery take is reported."""

from __future__ import annotations

import time

from tests.conftest import make_isolated
from tests.integration.notify_harness import Events, NotifyHarness, SmtpServer, TopicReader, eventually

ADVOCATES = 300
ITEMS = 3


async def test_items_for_everyone_reach_every_advocate_once(stack, figures) -> None:
    isolated = make_isolated(stack, "f")
    notify = NotifyHarness(isolated, SmtpServer())
    events = Events(isolated)
    topic = TopicReader(isolated.stack.kafka_bootstrap, isolated.prefix + "notification-sent")
    await events.start()
    await topic.start()
    await notify.start()
    try:
        for n in range(ADVOCATES):
            await events.advocate(f"adv-{n:03d}", language="fi" if n % 3 == 0 else "en", timezone="Europe/Helsinki")
        await eventually(lambda: len(list(notify.service.views.advocates())) == ADVOCATES, 30, "the directory")
        started = time.monotonic()
        for i in range(ITEMS):
            await events.publish(f"all-{i}", f"For everyone {i}", notify.clock())
        expected = ADVOCATES * ITEMS
        await eventually(lambda: len(topic.events) >= expected, 120, f"{expected} notifications")
        elapsed = time.monotonic() - started
        ids = [e.event_id for e in topic.events]
        assert len(ids) == len(set(ids)) == expected
        figures(
            f"{ITEMS} items x {ADVOCATES} advocates: {expected} notifications planned and sent in {elapsed:.1f} s "
            f"({expected / elapsed:.0f}/s, topic channel, FerretDB + Kafka)"
        )
    finally:
        await notify.stop()
        await topic.stop()
        await events.stop()
