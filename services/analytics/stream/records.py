"""The rollup records' table (`app/rollups.py` `RollupRecords`) on a changelogged Faust table."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, cast

from services.common.stream import DurableTable, acting_as

# Decoded records kept between batches: Faust's RocksDB store decodes a fresh copy on every get,
# and the busiest records (a day's program, teams, networks) are touched by every batch.
CACHED_RECORDS = 256


class TableRecords:
    def __init__(self, table: DurableTable, cached: int = CACHED_RECORDS) -> None:
        self._table = table
        self._cached = cached
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def load(self, record_id: str, anchor: Any) -> dict[str, Any] | None:
        record = self._cache.get(record_id)
        if record is not None:
            self._cache.move_to_end(record_id)
            return record
        with acting_as(anchor):  # the store partition is the anchor event's
            record = cast(dict[str, Any] | None, self._table.get(record_id))
        if record is not None:
            self._keep(record_id, record)
        return record

    def put(self, records: Mapping[str, dict[str, Any]], anchor: Any) -> None:
        with acting_as(anchor):  # the changelog partition is the anchor event's
            for record_id, record in records.items():
                self._table[record_id] = record
                self._keep(record_id, record)

    async def durable(self) -> None:
        await self._table.changelog_acknowledged()

    def forget(self) -> None:
        self._cache.clear()

    def _keep(self, record_id: str, record: dict[str, Any]) -> None:
        self._cache[record_id] = record
        self._cache.move_to_end(record_id)
        while len(self._cache) > self._cached:
            self._cache.popitem(last=False)
