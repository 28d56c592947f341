"""Group commit with a fake collection: concurrent inserts share round trips, a lone insert goes
at once, and each caller learns its own document's outcome."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo.errors import BulkWriteError, ServerSelectionTimeoutError

from services.common.group_commit import GroupCommit


class Collection:
    """insert_many like MongoDB's unordered one: stores what it can, reports duplicates by index."""

    def __init__(self, name: str = "things", fail: bool = False) -> None:
        self.name = name
        self.full_name = f"db.{name}"
        self.docs: dict[Any, dict[str, Any]] = {}
        self.calls: list[int] = []
        self.fail = fail

    async def insert_many(self, docs: list[dict[str, Any]], ordered: bool = True) -> None:
        assert not ordered
        self.calls.append(len(docs))
        await asyncio.sleep(0.01)  # a database round trip: later callers queue meanwhile
        if self.fail:
            raise ServerSelectionTimeoutError("database down")
        errors = []
        for i, doc in enumerate(docs):
            if doc["_id"] in self.docs:
                errors.append({"index": i, "code": 11000, "errmsg": "duplicate key"})
            else:
                self.docs[doc["_id"]] = doc
        if errors:
            raise BulkWriteError({"writeErrors": errors})


async def test_a_lone_insert_is_written_at_once():
    things = Collection()
    commit = GroupCommit()
    assert await asyncio.wait_for(commit.insert(things, {"_id": 1}), timeout=1.0)
    assert things.calls == [1]


async def test_concurrent_inserts_share_few_round_trips():
    things = Collection()
    commit = GroupCommit(max_batch=500, concurrency=2)
    results = await asyncio.gather(*(commit.insert(things, {"_id": i}) for i in range(200)))
    assert all(results) and len(things.docs) == 200
    assert sum(things.calls) == 200 and len(things.calls) <= 3  # the first alone, then the rest together


async def test_each_caller_learns_whether_its_own_id_was_taken():
    things = Collection()
    commit = GroupCommit()
    await commit.insert(things, {"_id": "old"})
    results = await asyncio.gather(
        *(commit.insert(things, {"_id": i}) for i in ["old", "a", "b", "a", "c", "b"]),
    )
    assert results == [False, True, True, False, True, False]


async def test_collections_are_written_separately_and_errors_reach_their_callers():
    good, bad = Collection("good"), Collection("bad", fail=True)
    commit = GroupCommit()
    outcomes = await asyncio.gather(
        commit.insert(good, {"_id": 1}),
        commit.insert(bad, {"_id": 1}),
        commit.insert(good, {"_id": 2}),
        return_exceptions=True,
    )
    assert outcomes[0] is True and outcomes[2] is True
    assert isinstance(outcomes[1], ServerSelectionTimeoutError)
    with pytest.raises(ServerSelectionTimeoutError):
        await commit.insert(bad, {"_id": 2})
