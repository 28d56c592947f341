"""The rate card in force on this replica: read by `_id`, kept a few seconds, replaced at once by a
put here; version 1 seeded from the settings when none is stored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from services.analytics.domain.metrics import RateCard
from services.analytics.domain.rate_card import VersionedRateCard, checked_rates


class RateCardStore(Protocol):
    async def get(self, version: int) -> VersionedRateCard | None: ...
    async def current(self) -> VersionedRateCard | None: ...
    async def put(self, currency: str, rates: Mapping[str, RateCard], by: str) -> VersionedRateCard: ...
    async def seed(self, currency: str, rates: Mapping[str, RateCard]) -> VersionedRateCard: ...


class RateCards:
    """What every figure is priced with. A replica re-reads the version in force at most every
    `refresh_seconds` (one `_id` read, or two when the pointer lags), so a rate card stored
    through another replica prices this one's figures at most that long plus one read later."""

    def __init__(
        self,
        store: Callable[[], RateCardStore],
        seed_currency: str,
        seed_rates: Mapping[str, RateCard],
        refresh_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._seed = (seed_currency, dict(seed_rates))
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._card: VersionedRateCard | None = None
        self._read_at = 0.0
        self._lock = asyncio.Lock()  # concurrent readers past the refresh share one read

    def _keep(self, card: VersionedRateCard, read_at: float) -> VersionedRateCard:
        if self._card is None or card.version >= self._card.version:  # never back to an older one
            self._card, self._read_at = card, read_at
        return card

    def _fresh(self) -> VersionedRateCard | None:
        if self._card is not None and self._clock() - self._read_at < self.refresh_seconds:
            return self._card
        return None

    async def in_force(self) -> VersionedRateCard:
        """The version figures are priced with now (from memory while fresh)."""
        if (card := self._fresh()) is not None:
            return card
        async with self._lock:
            if (card := self._fresh()) is not None:
                return card
            return await self.newest()

    async def newest(self) -> VersionedRateCard:
        """The newest stored version, read now (seeded from the settings if none is stored)."""
        started = self._clock()
        card = await self._store().current() or await self._store().seed(*self._seed)
        return self._keep(card, started)

    async def version(self, version: int) -> VersionedRateCard | None:
        return await self._store().get(version)

    async def put(self, currency: str, entries: Sequence[tuple[str, RateCard]], by: str) -> VersionedRateCard:
        """Stores a new version (InvalidRateCard when it may not be), in force here at once."""
        rates = checked_rates(currency, entries)
        started = self._clock()
        return self._keep(await self._store().put(currency, rates, by), started)
