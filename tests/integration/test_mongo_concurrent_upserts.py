"""Concurrent upserts of one new `_id` all succeed (an RPC such as `UpsertCampaign` must not answer
INTERNAL): two upserts of a new document can both try its insert, and the loser fails with a
duplicate key on FerretDB as on MongoDB. `upsert_by_id` applies the update again, which then matches."""

from __future__ import annotations

import asyncio

from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from services.common.mongo import upsert_by_id

CONCURRENT = 16
ROUNDS = 60


async def test_concurrent_upserts_of_a_new_id_all_succeed(isolated):
    mongo = AsyncMongoClient(isolated.stack.mongo_url)
    collection = mongo[isolated.database]["campaigns"]
    try:
        # Plain upserts first: the race exists here (else this test would prove nothing).
        collisions = 0
        for r in range(ROUNDS):
            results = await asyncio.gather(
                *(
                    collection.update_one({"_id": f"plain-{r}"}, {"$set": {"n": n}}, upsert=True)
                    for n in range(CONCURRENT)
                ),
                return_exceptions=True,
            )
            collisions += sum(isinstance(x, DuplicateKeyError) for x in results)
        print(f"plain upserts: {collisions} duplicate-key failures in {ROUNDS * CONCURRENT}")
        for r in range(ROUNDS):
            await asyncio.gather(
                *(upsert_by_id(collection, f"safe-{r}", {"$set": {"n": n}}) for n in range(CONCURRENT))
            )
        assert await collection.count_documents({"_id": {"$regex": "^safe-"}}) == ROUNDS
        assert collisions > 0, "no duplicate-key race seen: raise CONCURRENT or ROUNDS"
    finally:
        await mongo.close()
