"""MongoDB access through PyMongo's native asyncio API (AsyncMongoClient), motor's successor.

Works against FerretDB (local default) and MongoDB (production); code relies only on what
both support: single-document atomic writes, unique indexes, simple aggregations.
"""

from __future__ import annotations

from pymongo import AsyncMongoClient

from services.common.config import ServiceSettings


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
