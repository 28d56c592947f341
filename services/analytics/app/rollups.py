"""The worker's use case: a batch of share and engagement facts into the facts sink and the rollups.

Order per batch: claims and facts (idempotent, by `_id`), then each partition's rollup records
(`domain/rollup.py`), then the records made durable in the worker's table, then their documents
replaced. The batch's offsets are acknowledged after all of it; a crash anywhere in between
redelivers the batch, whose events the records skip by offset, and whose documents are written
again from the records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from services.analytics.app.ingest import Fact, Ingest
from services.analytics.domain.rollup import RollupWriter


class RollupRecords(Protocol):
    """The worker's record table (per partition, changelogged)."""

    def load(self, record_id: str, anchor: Any) -> dict[str, Any] | None: ...

    def put(self, records: Mapping[str, dict[str, Any]], anchor: Any) -> None: ...

    async def durable(self) -> None: ...

    def forget(self) -> None: ...


class RollupSink(Protocol):
    async def write(self, records: Mapping[str, Mapping[str, Any]]) -> None: ...


@dataclass(frozen=True)
class Positioned:
    """A fact and the Kafka record it came from. `anchor` stands for the record where the record
    table needs it (a write goes to the changelog partition of the record it acts for)."""

    source: str  # topic label
    partition: int
    offset: int
    fact: Fact
    anchor: Any = None

    @property
    def origin(self) -> str:
        return f"{self.source}:{self.partition}:{self.offset}"


class RollupProcessor:
    def __init__(
        self, ingest: Ingest, records: Callable[[], RollupRecords], documents: Callable[[], RollupSink]
    ) -> None:
        self._ingest = ingest
        self._records = records
        self._documents = documents

    async def process(self, batch: list[Positioned]) -> None:
        counted = await self._store_facts(batch)
        records = self._records()
        changed: dict[str, dict[str, Any]] = {}
        try:
            by_partition: dict[int, list[Positioned]] = {}
            for item in counted:
                by_partition.setdefault(item.partition, []).append(item)
            for partition, items in by_partition.items():
                anchor = items[-1].anchor
                writer = RollupWriter(partition, partial(records.load, anchor=anchor))
                for item in items:
                    writer.apply(item.source, item.offset, item.fact.doc)
                records.put(writer.changed, anchor)
                changed.update(writer.changed)
            await records.durable()
        except BaseException:
            records.forget()  # records changed in memory but maybe not stored: read them again
            raise
        await self._documents().write(changed)

    async def _store_facts(self, batch: list[Positioned]) -> list[Positioned]:
        """Stores the facts; returns those this batch's records count: each event id counts for
        the first Kafka record that carried it (a redelivery of that record included)."""
        for item in batch:
            item.fact.doc["origin"] = item.origin
        stored = await self._ingest.facts([item.fact for item in batch])
        again = [item for item, new in zip(batch, stored, strict=True) if not new]
        claims = [(item.fact.doc["_id"], item.origin) for item in again]
        origins = await self._ingest.origins(claims) if again else {}
        return [
            item
            for item, new in zip(batch, stored, strict=True)
            if new or origins.get(item.fact.doc["_id"]) == item.origin
        ]
