"""The analytics worker's use cases over the real database, for tests below the Faust worker: facts,
claims and rollup documents on the server, the record table in memory (its changelogged store on
Kafka is covered by test_analytics_pipeline)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from advocacy.share.v1 import share_pb2 as spb

from services.analytics.adapters.facts import AnalyticsRepository
from services.analytics.adapters.reader import AnalyticsReader
from services.analytics.adapters.rollups import RollupDocuments
from services.analytics.app.ingest import Fact, Ingest
from services.analytics.app.queries import AnalyticsQueries
from services.analytics.app.rollups import Positioned, RollupProcessor
from services.analytics.domain.report import Config
from services.analytics.domain.windows import Granularity


class MemoryRecords:
    """The worker's record table in memory (its changelogged store on Kafka is covered by
    test_analytics_pipeline); the facts, claims and rollup documents here are on the real server."""

    def __init__(self) -> None:
        self.table: dict[str, dict] = {}
        self.marks: dict[str, int] = {}

    def load(self, record_id: str, anchor: object) -> dict | None:
        record = self.table.get(record_id)
        return copy.deepcopy(record) if record is not None else None

    def put(self, records: dict[str, dict], anchor: object) -> None:
        self.table.update(copy.deepcopy(records))
        self.marks.update({record_id: record["rev"] for record_id, record in records.items()})

    async def durable(self) -> None:
        pass

    def forget(self) -> None:
        pass

    def unwritten(self, limit: int) -> list[tuple[str, dict]]:
        return [(record_id, copy.deepcopy(self.table[record_id])) for record_id in list(self.marks)[:limit]]

    def written(self, record_id: str, rev: int) -> None:
        if self.marks.get(record_id) == rev:
            del self.marks[record_id]


class Worker:
    """Ingest and the rollup use case over the real database, fed (source, offset, event)."""

    def __init__(
        self, db, lateness: timedelta = timedelta(hours=2), clock: Callable[[], datetime] | None = None
    ) -> None:
        self.repo = AnalyticsRepository(db)
        self.ingest = Ingest(lambda: self.repo, lateness, clock=clock or (lambda: datetime.now(UTC)))
        self._offsets: dict[str, int] = {}
        self.records = MemoryRecords()
        documents = RollupDocuments(db, 1)
        self.processor = RollupProcessor(self.ingest, lambda: self.records, lambda: documents)
        self.reader = AnalyticsReader(self.repo, documents)

    async def feed(self, *events: tuple[int, spb.ShareMade | spb.EngagementObserved]) -> None:
        """One batch; each event at its offset on partition 0 of its topic (the same offset again:
        a redelivery of that record)."""
        batch = []
        for offset, event in events:
            source = "share-made" if isinstance(event, spb.ShareMade) else "engagement-observed"
            batch.append(Positioned(source, 0, offset, self.ingest.fact(event)))
        await self.processor.process(batch)

    async def feed_facts(self, docs: list[dict]) -> None:
        """Fact documents (as `fact_document` builds them), each at the next offset of share-made."""
        batch = []
        for doc in docs:
            offset = self._offsets.get("share-made", 0)
            self._offsets["share-made"] = offset + 1
            batch.append(Positioned("share-made", 0, offset, Fact(doc, "share-made")))
        await self.processor.process(batch)

    def queries(self) -> AnalyticsQueries:
        return AnalyticsQueries(lambda: self.reader, Config({}, {}, {}), "EUR")

    async def totals(self, granularity: Granularity = Granularity.ALL_TIME):
        rows = await self.reader.grouped({}, granularity, None, None)
        out = {}
        for (bucket, _), by_leader in rows.items():
            for g in by_leader.values():
                out.setdefault(bucket, []).append(g.totals)
        return out

    async def stats(self, content_id: str) -> tuple[int, int, int]:
        return await self.queries().content_stats(content_id)
