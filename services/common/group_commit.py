"""Group commit: concurrent single-document inserts coalesced into one unordered `insert_many`
per collection, each caller answered once its own document is stored.

FerretDB (and MongoDB) pay per command far more than per document, so under load many callers
share one round trip; a lone insert goes at once (no linger while nothing is in flight), and a
batch grows only with what arrives while earlier batches are being written. The outcome is per
document: inserted, refused as a duplicate `_id` (the caller reads the winner), or the error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from prometheus_client import Histogram
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

DUPLICATE_KEY = 11000

BATCH_DOCUMENTS = Histogram(
    "advocacy_group_commit_batch_documents",
    "Documents per group-commit insert_many, by collection.",
    ["collection"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)

_Pending = tuple[AsyncCollection, dict[str, Any], "asyncio.Future[bool]"]


class GroupCommit:
    def __init__(self, max_batch: int = 500, concurrency: int = 2) -> None:
        self._max_batch = max_batch
        # Batches written at once: one fills while another is in the database.
        self._slots = asyncio.Semaphore(concurrency)
        self._pending: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[None]] = set()

    async def insert(self, collection: AsyncCollection, document: dict[str, Any]) -> bool:
        """True once `document` is stored; False when its `_id` was taken (by an earlier write or
        by another document of the same batch). Database errors are raised to this caller."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        # Retrieved here too, so a caller that gave up leaves no "exception never retrieved".
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._pending.append((collection, document, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        # Shielded: a caller that gives up (deadline) does not take the batch's write down with it.
        return await asyncio.shield(future)

    async def insert_all(self, collection: AsyncCollection, documents: Iterable[dict[str, Any]]) -> list[bool]:
        return list(await asyncio.gather(*(self.insert(collection, d) for d in documents)))

    async def _flush(self) -> None:
        while self._pending:
            await self._slots.acquire()
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            task = asyncio.create_task(self._write(batch))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    async def _write(self, batch: list[_Pending]) -> None:
        try:
            by_collection: dict[str, list[_Pending]] = {}
            for entry in batch:
                by_collection.setdefault(entry[0].full_name, []).append(entry)
            await asyncio.gather(*(_insert(entries) for entries in by_collection.values()))
        finally:
            self._slots.release()


async def _insert(entries: list[_Pending]) -> None:
    collection = entries[0][0]
    BATCH_DOCUMENTS.labels(collection.name).observe(len(entries))
    refused: dict[int, BaseException | None] = {}
    try:
        await collection.insert_many([doc for _, doc, _ in entries], ordered=False)
    except BulkWriteError as exc:
        for error in exc.details.get("writeErrors", []):
            duplicate = error.get("code") == DUPLICATE_KEY
            refused[error["index"]] = None if duplicate else BulkWriteError({"writeErrors": [error]})
    except Exception as exc:
        for _, _, future in entries:
            if not future.done():
                future.set_exception(exc)
        return
    for i, (_, _, future) in enumerate(entries):
        if future.done():
            continue
        error = refused.get(i, False)
        if error is False:
            future.set_result(True)
        elif error is None:
            future.set_result(False)
        else:
            future.set_exception(error)
