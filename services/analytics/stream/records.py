"""The rollup records' tables (`app/rollups.py` `RollupRecords`) on changelogged Faust tables."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, cast

from services.analytics.domain.rollup import partition_of
from services.common.stream import DurableTable, acting_as

# Decoded records kept between batches: Faust's RocksDB store decodes a fresh copy on every get,
# and the busiest records (a day's program, teams, networks) are touched by every batch.
CACHED_RECORDS = 2048


class TableRecords:
    """`records`: record id -> record; `unwritten`: record id -> the revision its document lacks.

    A table write goes to the partition of the event it acts for, so each partition keeps the
    last event of a batch as its anchor; a mark written before this worker processed an event of
    its partition (found after a restart) is dropped once an anchor arrives."""

    def __init__(self, records: DurableTable, unwritten: DurableTable, cached: int = CACHED_RECORDS) -> None:
        self._table = records
        self._marks = unwritten
        self._cached = cached
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._pending: dict[str, int] = {}  # the marks of the partitions this worker has
        self._anchors: dict[int, Any] = {}
        self._drop_later: dict[int, list[str]] = {}
        self._loaded = False

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
                self._marks[record_id] = record["rev"]
                self._pending[record_id] = record["rev"]
                self._keep(record_id, record)
        partition = anchor.message.partition
        self._anchors[partition] = anchor
        for record_id in self._drop_later.pop(partition, []):
            self._drop(record_id)

    async def durable(self) -> None:
        await self._table.changelog_acknowledged()
        await self._marks.changelog_acknowledged()

    def forget(self) -> None:
        """Drops what this worker holds in memory: after a failed batch, or when partitions move."""
        self._cache.clear()
        self._pending.clear()
        self._anchors.clear()
        self._drop_later.clear()
        self._loaded = False

    def unwritten(self, limit: int) -> list[tuple[str, dict[str, Any]]]:
        if not self._loaded:  # marks left by a crash, or by the partitions' previous owner
            self._pending.update({k: int(v) for k, v in self._marks.items()})
            self._loaded = True
        out = []
        for record_id in list(self._pending)[:limit]:
            record = self._cache.get(record_id) or self._stored(record_id)
            if record is None:
                self._pending.pop(record_id, None)
                continue
            out.append((record_id, record))
        return out

    def behind(self) -> int:
        return len(self._pending)

    def written(self, record_id: str, rev: int) -> None:
        if self._pending.get(record_id) != rev:
            return  # changed again since: its mark stays
        del self._pending[record_id]
        if partition_of(record_id) in self._anchors:
            self._drop(record_id)
        else:
            self._drop_later.setdefault(partition_of(record_id), []).append(record_id)

    def _drop(self, record_id: str) -> None:
        anchor = self._anchors[partition_of(record_id)]
        with acting_as(anchor):
            self._marks.pop(record_id, None)

    def _stored(self, record_id: str) -> dict[str, Any] | None:
        # Any partition's store: a mark found after a restart has no anchor yet.
        return cast(dict[str, Any] | None, self._table.get(record_id))

    def _keep(self, record_id: str, record: dict[str, Any]) -> None:
        self._cache[record_id] = record
        self._cache.move_to_end(record_id)
        while len(self._cache) > self._cached:
            self._cache.popitem(last=False)
