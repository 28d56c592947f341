"""MongoDB access through PyMongo's native asyncio API (AsyncMongoClient), motor's successor.

Works against FerretDB (local default) and MongoDB (production); code relies only on what
both support: single-document atomic writes, unique indexes, simple aggregations.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from pymongo import AsyncMongoClient
from pymongo import common as pymongo_common
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from services.common.config import ServiceSettings
from services.common.retry import retrying

DUPLICATE_KEY = 11000


async def upsert_by_id(collection: AsyncCollection, doc_id: str, update: dict, attempts: int = 3) -> None:
    """`update_one({"_id": doc_id}, update, upsert=True)` that survives concurrent first writes:
    two upserts of a new `_id` can both try the insert, and the loser fails with a duplicate key
    (MongoDB and FerretDB), which would reach the client as INTERNAL. By then the document
    exists, so the update is applied again and matches it."""
    # No wait: the loser's retry finds the document the winner just inserted.
    policy = retrying(
        retry_on=DuplicateKeyError, event="upsert_duplicate_retry", first_seconds=0, attempts=attempts, log_level="info"
    )
    await policy(collection.update_one, {"_id": doc_id}, update, upsert=True)


def only_duplicates(exc: BaseException) -> bool:
    """Whether `exc` is a bulk write refused only for duplicate keys (the documents exist)."""
    return isinstance(exc, BulkWriteError) and all(
        e.get("code") == DUPLICATE_KEY for e in exc.details.get("writeErrors", [])
    )


def duplicate_indexes(exc: BulkWriteError) -> set[int]:
    """The positions an unordered bulk insert refused as duplicate `_id`s (the documents exist);
    re-raises when anything else failed."""
    if not only_duplicates(exc):
        raise exc
    return {int(e["index"]) for e in exc.details.get("writeErrors", [])}


# PyMongo's server selection re-checks a missing server only every MIN_HEARTBEAT_INTERVAL
# (0.5 s), so a call against an unreachable database gives up only at the next 0.5 s step after
# its timeout (0.95 s for a 500 ms one). A 0.1 s step keeps every call within ≈ 0.1 s of
# ADVOCACY_MONGO_TIMEOUT_MS, well under the 1 s an outage must be answered in.
# The constant also bounds how often a monitor re-checks a server on request, 10 per second at most.
pymongo_common.MIN_HEARTBEAT_INTERVAL = 0.1


def mongo_client(settings: ServiceSettings) -> AsyncMongoClient:
    timeout = settings.mongo_timeout_ms
    return AsyncMongoClient(
        settings.mongo_url.get_secret_value(),
        tz_aware=True,
        # Short timeouts so an outage turns into UNAVAILABLE within seconds instead of a hang.
        serverSelectionTimeoutMS=timeout,
        connectTimeoutMS=timeout,
        socketTimeoutMS=max(timeout * 5, 10_000),
        appname="advocacy",
    )


async def prepare_database(*steps: Callable[[], Awaitable[object]], within_seconds: float = 60.0) -> None:
    """Runs start-up steps (index creation) in order, retrying a failing step with backoff.

    A database that is briefly unreachable or busy at start (FerretDB's SQLite backend can refuse
    concurrent first writes to a new database) should delay a service, not crash it.
    """
    deadline = time.monotonic() + within_seconds
    for step in steps:
        policy = retrying(
            retry_on=PyMongoError,
            event="database_setup_retry",
            deadline=deadline,
            step=getattr(step, "__qualname__", str(step)),
        )
        await policy(step)
