"""Redemption: claim a unit of stock, debit the wallet chain, record the ledger entry; no transactions.

1. `catalog.take_one`: a unique insert claims one unit (stock never below zero).
2. `wallets.apply(-cost)`: a wallet link inserted only if the balance covers the cost and the
   redemption key is new, marked `settled: false` (the promise to write the ledger entry).
   If it is refused, the claimed unit is given back.
3. the negative ledger entry is inserted (unique id), then the link is marked settled.
   A crash between 2 and 3 leaves an unsettled link; `settle_pending` finishes it (at start, and
   on a retry of the same redemption), so the ledger catches up with the wallet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from services.rewards.adapters.ledger import LedgerRepository, entry_id, ledger_document
from services.rewards.adapters.store import CatalogRepository, Overdraft, WalletRepository
from services.rewards.domain.rules import REDEMPTION


class OutOfStock(Exception):
    pass


class InsufficientPoints(Exception):
    pass


class UnknownItem(Exception):
    pass


@dataclass
class Outcome:
    entry: dict
    balance: int
    created: bool


class Redemptions:
    def __init__(self, ledger: LedgerRepository, wallets: WalletRepository, catalog: CatalogRepository) -> None:
        self.ledger = ledger
        self.wallets = wallets
        self.catalog = catalog

    async def redeem(self, advocate_id: str, item_id: str, idempotency_key: str) -> Outcome:
        key = f"redeem-{advocate_id}-{idempotency_key}"
        existing = await self._existing(advocate_id, key)
        if existing is not None:
            return existing
        item = await self.catalog.get(item_id)
        if item is None:
            raise UnknownItem(item_id)
        cost = int(item["cost"])
        claim = await self.catalog.take_one(item_id, key)
        if claim is None:
            raise OutOfStock(item_id)
        at = datetime.now(UTC)
        extra = {"kind": REDEMPTION, "item_id": item_id, "claim": claim, "at": at, "settled": False}
        try:
            created = await self.wallets.apply(advocate_id, key, -cost, extra)
        except Overdraft:
            await self.catalog.put_back(claim)
            raise InsufficientPoints(advocate_id) from None
        if not created:  # a concurrent retry of the same redemption won
            await self.catalog.put_back(claim)
            existing = await self._existing(advocate_id, key)
            assert existing is not None
            return existing
        link = await self.wallets.link(key)
        assert link is not None
        doc = await self._settle(link)
        return Outcome(doc, await self.wallets.balance(advocate_id), True)

    async def _existing(self, advocate_id: str, key: str) -> Outcome | None:
        link = await self.wallets.link(key)
        if link is None:
            return None
        doc = await self._settle(link)
        return Outcome(doc, await self.wallets.balance(advocate_id), False)

    async def _settle(self, link: dict) -> dict:
        doc = ledger_document(
            source_event_id=link["key"],
            rule=REDEMPTION,
            advocate_id=link["advocate_id"],
            points=int(link["delta"]),
            rule_set_version=0,
            campaign_id="",
            content_id=link["item_id"],
            occurred_at=link["at"],
        )
        stored = await self.ledger.record([doc])
        if not link.get("settled", True):
            await self.wallets.mark_settled(link["key"])
        return stored[0]

    async def settle_pending(self) -> int:
        links = await self.wallets.unsettled()
        for link in links:
            await self._settle(link)
        return len(links)


__all__ = ["InsufficientPoints", "OutOfStock", "Outcome", "Redemptions", "UnknownItem", "entry_id"]
