"""The click window on the real FerretDB: one emitted click per (share, fingerprint) per window,
decided by a unique insert, so concurrent clicks cannot both open it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pymongo import AsyncMongoClient

from services.common.events import utcnow
from services.common.outbox import OutboxEvent
from services.share.adapters.engagement import ClickWindowRepository


def event(n: int) -> OutboxEvent:
    return OutboxEvent(event_id=f"e{n}", topic="t", key="k", value=b"v")


async def test_concurrent_clicks_open_one_window_and_the_next_opens_after_it(isolated):
    mongo = AsyncMongoClient(isolated.stack.mongo_url, tz_aware=True)
    repo = ClickWindowRepository(mongo[isolated.database])
    await repo.ensure_indexes()
    window = timedelta(seconds=2)
    try:
        opened = await asyncio.gather(*(repo.open_window("s1", "fp", utcnow(), window, event(i)) for i in range(10)))
        assert [o[0] for o in opened if o] == ["s1:fp:1"]
        assert not await repo.open_window("s1", "fp", utcnow(), window, event(10))  # still inside the window
        assert await repo.open_window("s1", "other-fp", utcnow(), window, event(11))  # another actor
        assert await repo.open_window("s2", "fp", utcnow(), window, event(12))  # another share
        await asyncio.sleep(2.1)
        again = await asyncio.gather(*(repo.open_window("s1", "fp", utcnow(), window, event(i)) for i in range(5)))
        assert [o[0] for o in again if o] == ["s1:fp:2"]
        # Every opened window holds exactly one click event for the relay.
        docs = [d async for d in repo.collection.find({}, {"outbox": 1})]
        assert len(docs) == 4 and all(len(d["outbox"]) == 1 for d in docs)
    finally:
        await mongo.close()
