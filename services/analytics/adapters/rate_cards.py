"""Rate card versions in MongoDB, read by `_id` only.

One immutable document per version (`_id` = the version number) and a `current` pointer document
holding the newest version number. Inserting a version's `_id` decides a race between two admins
(the loser takes the next number), so versions are 1, 2, 3 ... without gaps. The pointer is moved
after the insert and only ever forward (`$max`); it is a hint: a writer that stopped between its
insert and the pointer (or FerretDB, which does not isolate concurrent updates of one document)
can leave it behind, so a read follows `version + 1` until it is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.analytics.domain.metrics import RateCard
from services.analytics.domain.rate_card import RATE_FIELDS, VersionedRateCard
from services.common.mongo import upsert_by_id
from services.common.retry import retrying

CURRENT = "current"
# Two admins storing at once: each lost insert moves on to the next number.
_PUT_ATTEMPTS = 20


def _card(doc: Mapping[str, Any]) -> VersionedRateCard:
    return VersionedRateCard(
        version=int(doc["_id"]),
        currency=str(doc["currency"]),
        rates={n: RateCard(*(float(r[f]) for f in RATE_FIELDS)) for n, r in doc["rates"].items()},
        created_at=doc.get("created_at"),
        created_by=str(doc.get("created_by", "")),
    )


class RateCardRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["rate_cards"]

    async def get(self, version: int) -> VersionedRateCard | None:
        doc = await self.collection.find_one({"_id": version})
        return _card(doc) if doc is not None else None

    async def current(self) -> VersionedRateCard | None:
        """The newest stored version, None when none is stored."""
        pointer = await self.collection.find_one({"_id": CURRENT})
        version = int(pointer["version"]) if pointer is not None else 0
        card = await self.get(version) if version else None
        while (newer := await self.get(version + 1)) is not None:
            card, version = newer, version + 1
        return card

    async def _insert(self, version: int, currency: str, rates: Mapping[str, RateCard], by: str) -> VersionedRateCard:
        """Raises DuplicateKeyError when the version exists."""
        now = datetime.now(UTC)
        doc = {
            "_id": version,
            "currency": currency,
            "rates": {n: {f: getattr(r, f) for f in RATE_FIELDS} for n, r in rates.items()},
            "created_at": now,
            "created_by": by,
        }
        await self.collection.insert_one(doc)
        await upsert_by_id(self.collection, CURRENT, {"$max": {"version": version}})
        return VersionedRateCard(version, currency, dict(rates), now, by)

    async def put(self, currency: str, rates: Mapping[str, RateCard], by: str) -> VersionedRateCard:
        """Stores the next version (rates already validated)."""
        # Two admins at once: the unique _id decides, the loser takes the next number (at once).
        policy = retrying(
            retry_on=DuplicateKeyError,
            event="rate_card_version_taken",
            first_seconds=0,
            attempts=_PUT_ATTEMPTS,
            log_level="info",
        )
        try:
            return await policy(self._insert_next, currency, rates, by)
        except DuplicateKeyError:
            raise RuntimeError("rate card version contention") from None

    async def _insert_next(self, currency: str, rates: Mapping[str, RateCard], by: str) -> VersionedRateCard:
        current = await self.current()
        return await self._insert((current.version if current else 0) + 1, currency, rates, by)

    async def seed(self, currency: str, rates: Mapping[str, RateCard]) -> VersionedRateCard:
        """Version 1 from the settings, unless one is stored (the first replica's settings win)."""
        try:
            await self._insert(1, currency, rates, "settings")
        except DuplicateKeyError:
            pass
        card = await self.current()
        assert card is not None  # version 1 exists now
        return card
