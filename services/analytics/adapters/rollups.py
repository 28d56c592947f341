"""Rollup documents in MongoDB (`domain/rollup.py`): written whole from the worker's records,
read by `_id` only, so a question's cost follows the days and partitions it reads, not the
facts stored."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pymongo import ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase

from services.analytics.domain.rollup import (
    FIELD_DIMENSION,
    Assembly,
    Grouped,
    Question,
    chunk_id,
    day_id,
    days_between,
    span_id,
)
from services.analytics.domain.windows import Granularity

# FerretDB 1.x holds a pooled connection per statement of a bulk update and hung at ~100
# statements (known-facts): 25 keeps far from that at 95 % of 50's rate (measured 1,961 vs 2,054/s).
WRITE_CHUNK = 25
# Reads in flight at once per question.
READS_IN_FLIGHT = 32


def _document(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record as stored: keys (any id: dots, a leading `$`) are values, never field names, and
    a chunk's facts are wrapped (FerretDB 1.x stores no array directly inside an array)."""
    doc = {k: v for k, v in record.items() if k not in ("applied", "keys", "facts")}
    if "keys" in record:
        doc["keys"] = [{"k": key, "h": hours} for key, hours in record["keys"].items()]
    if "facts" in record:
        doc["facts"] = [{"f": fact} for fact in record["facts"]]
    return doc


def _record(doc: dict[str, Any]) -> dict[str, Any]:
    if "keys" in doc:
        doc["keys"] = {entry["k"]: entry["h"] for entry in doc["keys"]}
    if "facts" in doc:
        doc["facts"] = [entry["f"] for entry in doc["facts"]]
    return doc


def question(
    match: Mapping[str, Any], granularity: Granularity, start: datetime | None, end: datetime | None, by: str | None
) -> Question:
    """The rollup question of a fact filter (`match`: at most one dimension field) and `by`."""
    if by is not None:
        if match or by not in FIELD_DIMENSION:
            raise ValueError(f"rollups group one dimension's keys: by={by!r} with match={dict(match)!r}")
        return Question(FIELD_DIMENSION[by], None, granularity, start, end)
    if not match:
        return Question("PROGRAM", "", granularity, start, end)
    if len(match) != 1:
        raise ValueError(f"rollups answer one dimension key at a time: {dict(match)!r}")
    ((field_name, key),) = match.items()
    return Question(FIELD_DIMENSION[field_name], str(key), granularity, start, end)


class RollupDocuments:
    """The `rollups` collection: one document per record, replaced whole."""

    def __init__(self, db: AsyncDatabase, partitions: int) -> None:
        self.collection = db["rollups"]
        self.partitions = partitions

    async def write(self, records: Mapping[str, Mapping[str, Any]]) -> None:
        ops = [ReplaceOne({"_id": rid}, _document(record), upsert=True) for rid, record in records.items()]
        for n in range(0, len(ops), WRITE_CHUNK):
            await self.collection.bulk_write(ops[n : n + WRITE_CHUNK], ordered=False)

    async def read(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        wanted = list(dict.fromkeys(ids))
        limit = asyncio.Semaphore(READS_IN_FLIGHT)

        async def one(rid: str) -> dict[str, Any] | None:
            async with limit:
                return await self.collection.find_one({"_id": rid})

        found = await asyncio.gather(*(one(rid) for rid in wanted))
        return {rid: _record(doc) for rid, doc in zip(wanted, found, strict=True) if doc is not None}

    # --- the questions (`FactReader.grouped` / `time_bounds`) ---

    async def assemble(self, q: Question) -> Assembly:
        spans = await self.read(span_id(p) for p in range(self.partitions))
        # Per partition, only the days it has facts on: no read of a document that cannot exist.
        on_days = sorted(
            (d, p)
            for p in range(self.partitions)
            if span_id(p) in spans
            for d in days_between(q.start, q.end, [spans[span_id(p)]])
        )
        wanted = [(day_id(q.dimension, b, d, p), d, p) for d, p in on_days for b in q.buckets()]
        docs = await self.read(rid for rid, _, _ in wanted)
        assembly = Assembly(q)
        cut: set[tuple[datetime, int]] = set()
        for rid, day, p in wanted:
            if rid in docs:
                cut.update((hour, p) for hour in assembly.add_day(docs[rid], day))
        if cut:
            days_cut = {(hour.date(), p) for hour, p in cut}
            programs = await self.read(day_id("PROGRAM", 0, day, p) for day, p in days_cut)
            chunks: list[str] = []
            for day, p in sorted(days_cut):
                count = int(programs.get(day_id("PROGRAM", 0, day, p), {}).get("chunks", 0))
                chunks.extend(chunk_id(day, p, n) for n in range(count))
            hours = {hour for hour, _ in cut}
            for chunk in (await self.read(chunks)).values():
                assembly.add_facts(chunk.get("facts", []), hours)
        return assembly

    async def grouped(
        self,
        match: Mapping[str, Any],
        granularity: Granularity,
        start: datetime | None,
        end: datetime | None,
        by: str | None = None,
    ) -> Grouped:
        return (await self.assemble(question(match, granularity, start, end, by))).out

    async def time_bounds(
        self, match: Mapping[str, Any], start: datetime | None, end: datetime | None
    ) -> tuple[datetime, datetime] | None:
        """The first and last fact's time (a whole hour's: its start) within [start, end)."""
        found = await self.assemble(question(match, Granularity.ALL_TIME, start, end, None))
        if found.first is None or found.last is None:
            return None
        return found.first, found.last
