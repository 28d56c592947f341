"""The latest of a chain of insert-only records, found by `_id` reads only.

Records of one key are numbered 1, 2, ... and stored once each with `_id` = `record_id(key, n)`
(the unique `_id` is the compare-and-set: of two writers of record n exactly one insert wins).
Finding the latest one with a sorted query would scan the collection on FerretDB, so beside
the records sits a *head* document per key (`_id` = key) holding the number and a copy of the
fields readers need. The head is only a hint, written unconditionally by `_id` (a conditional
filter would not be an `_id`-only filter and so would scan on FerretDB): a slower writer may put
an older number back, and a writer may die between its record and its head. It is never ahead
of the records (written only after its record), so a reader probes `n + 1, n + 2, ...` by `_id`
until one is missing: one extra `_id` read when the head is current, and the answer is exact.
A reader that had to probe past the head repairs it. Chains written before heads existed (no
head) are probed from 1 and get their head on first read: no migration needed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError


class Chain:
    def __init__(
        self,
        records: AsyncCollection,
        heads: AsyncCollection,
        record_id: Callable[[str, int], str],
        head_fields: tuple[str, ...],
        insert: Callable[[AsyncCollection, dict[str, Any]], Awaitable[bool]] | None = None,
    ) -> None:
        self.records = records
        # Inserts a record: True when stored, False when its `_id` exists (e.g. a group commit).
        self._insert = insert or _insert_one
        self.heads = heads
        self._record_id = record_id
        # The record fields copied into the head: what `latest` returns without reading the record.
        self._fields = head_fields

    async def latest(self, key: str) -> tuple[int, dict[str, Any] | None]:
        """(number, fields) of the latest record of `key`; (0, None) when it has none."""
        head = await self.heads.find_one({"_id": key})
        n = int(head["n"]) if head else 0
        fields = {f: head[f] for f in self._fields if f in head} if head else None
        probed = False
        while True:
            record = await self.records.find_one({"_id": self._record_id(key, n + 1)}, dict.fromkeys(self._fields, 1))
            if record is None:
                break
            n, fields, probed = n + 1, {f: record[f] for f in self._fields if f in record}, True
        if probed and fields is not None:
            await self._advance(key, n, fields)
        return n, fields

    async def append(self, key: str, n: int, record: dict[str, Any]) -> bool:
        """Inserts record `n` of `key` (with `_id` set here); False when record n exists already."""
        if not await self._insert(self.records, {"_id": self._record_id(key, n), **record}):
            return False
        await self._advance(key, n, {f: record[f] for f in self._fields if f in record})
        return True

    async def _advance(self, key: str, n: int, fields: dict[str, Any]) -> None:
        try:
            await self.heads.replace_one({"_id": key}, {"n": n, **fields}, upsert=True)
        except DuplicateKeyError:
            pass  # a concurrent first write of this head: readers probe past whichever won


async def _insert_one(collection: AsyncCollection, document: dict[str, Any]) -> bool:
    try:
        await collection.insert_one(document)
    except DuplicateKeyError:
        return False
    return True
