"""Our FerretDB build answers `_id` lookups from the `_id` index, not with a table scan.

Every hot path (shares, advocates, click windows, the outbox relay's removals) reads and updates
single documents by `_id`. Upstream FerretDB 1.24 (SQLite) compares `_id` with an expression its
`_id` index does not cover, so each such lookup scans the whole table; `infra/stack.py` builds
FerretDB with that expression fixed. A scan of 10,000 documents costs ~100 ms here, an index
lookup ~1-3 ms: the ratio between a large and a tiny collection tells the two apart even on a
loaded machine.
"""

from __future__ import annotations

import time
import uuid

from pymongo import AsyncMongoClient

DOCS = 10_000


async def median_lookup_ms(collection, doc_id: str, rounds: int = 15) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await collection.find_one({"_id": doc_id})
        await collection.update_one({"_id": doc_id}, {"$set": {"touched": True}})
        times.append((time.perf_counter() - started) * 1000)
    return sorted(times)[len(times) // 2]


async def test_id_find_and_update_cost_does_not_grow_with_the_collection(isolated):
    mongo = AsyncMongoClient(isolated.stack.mongo_url)
    db = mongo[isolated.database]
    try:
        ids = [uuid.uuid4().hex for _ in range(DOCS)]
        await db["large"].insert_many([{"_id": i, "payload": "x" * 200} for i in ids])
        await db["tiny"].insert_one({"_id": "only", "payload": "x" * 200})
        tiny = await median_lookup_ms(db["tiny"], "only")
        large = await median_lookup_ms(db["large"], ids[DOCS // 2])
        missing = await median_lookup_ms(db["large"], "not-there")
        # A scan would make `large` ~30-100x `tiny`; an index lookup keeps them alike.
        assert large < tiny * 5 + 5, (tiny, large)
        assert missing < tiny * 5 + 5, (tiny, missing)
    finally:
        await mongo.drop_database(isolated.database)
        await mongo.close()
