"""Health aggregate documents in MongoDB (`app/health.py`): written whole from the worker's
records, read by `_id` only (a question reads at most one document per partition and month)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from pymongo import ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase

from services.analytics.adapters.rollups import READS_IN_FLIGHT, WRITE_CHUNK


def _document(record: Mapping[str, Any]) -> dict[str, Any]:
    # Entry keys (JSON lists holding team and lesson ids) are values, never field names.
    doc: dict[str, Any] = {"e": [{"k": k, "n": n} for k, n in record.get("e", {}).items()]}
    if "titles" in record:
        doc["titles"] = [{"l": lesson, "t": title} for lesson, title in record["titles"].items()]
    if "months" in record:
        doc["months"] = list(record["months"])
    return doc


def _record(doc: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"e": {entry["k"]: int(entry["n"]) for entry in doc.get("e", [])}}
    if "titles" in doc:
        out["titles"] = {entry["l"]: entry["t"] for entry in doc["titles"]}
    if "months" in doc:
        out["months"] = list(doc["months"])
    return out


class HealthDocuments:
    """The `health` collection: one document per aggregate record, replaced whole."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["health"]

    async def write(self, records: Mapping[str, Mapping[str, Any]]) -> None:
        ops = [ReplaceOne({"_id": rid}, _document(record), upsert=True) for rid, record in records.items()]
        for n in range(0, len(ops), WRITE_CHUNK):
            await self.collection.bulk_write(ops[n : n + WRITE_CHUNK], ordered=False)

    async def read(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        limit = asyncio.Semaphore(READS_IN_FLIGHT)

        async def one(rid: str) -> dict[str, Any] | None:
            async with limit:
                return await self.collection.find_one({"_id": rid})

        found = await asyncio.gather(*(one(rid) for rid in ids))
        return {rid: _record(doc) for rid, doc in zip(ids, found, strict=True) if doc is not None}
