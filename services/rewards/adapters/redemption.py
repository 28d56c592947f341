"""Redemption: claim a unit of stock, debit the wallet chain, record the ledger entry; no transactions.

Every step is one single-document write that a unique `_id` or key arbitrates, so each is
idempotent and a crash between any two of them is recoverable:

0. a `redemptions` document `_id = <key>` is inserted as PENDING (the intent, with item and cost);
1. `catalog.take_one`: a unique insert claims one unit, tagged with the key (stock never below zero);
2. `wallets.apply(-cost)`: a wallet link inserted only if the balance covers the cost and the key
   is new, marked `settled: false` (the promise to write the ledger entry). If it is refused, the
   claimed unit is given back;
3. the negative ledger entry is inserted (unique id), the link marked settled, the redemption DONE.

A retry of the same redemption (same key) resumes it. The recovery sweep (`recover`, at start and
periodically) finishes what a crash left behind: a PENDING redemption older than N s whose debit
exists is completed (ledger entry, DONE); one without a debit is *voided*: a zero-point wallet link
with the same key is inserted, and the wallet's unique key index decides between that void and a
late debit of a still-running attempt, so exactly one of them wins. A voided redemption's stock
claims are given back and it ends ABANDONED; the slow attempt, if any, sees the void, gives its unit
back and reports the redemption as interrupted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter, Gauge
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.common.logging import get_logger
from services.rewards.adapters.ledger import LedgerRepository, entry_id, ledger_document
from services.rewards.adapters.store import CatalogRepository, Overdraft, WalletRepository
from services.rewards.domain.rules import REDEMPTION

log = get_logger(__name__)

VOID = "redemption_void"
PENDING, DONE, FAILED, ABANDONED = "PENDING", "DONE", "FAILED", "ABANDONED"

REDEMPTIONS = Counter(
    "advocacy_rewards_redemptions_total",
    "Redemption requests by outcome (redeemed, repeated, out_of_stock, insufficient_points, unknown_item, "
    "interrupted) and redemptions the recovery sweep finished (recovered_completed, recovered_compensated).",
    ["outcome"],
)
REDEMPTIONS_PENDING = Gauge(
    "advocacy_rewards_redemptions_pending", "Redemptions started and not finished, as of the last recovery sweep."
)
REDEMPTIONS_PENDING_AGE = Gauge(
    "advocacy_rewards_redemption_pending_oldest_age_seconds",
    "Age of the oldest unfinished redemption, as of the last recovery sweep (0 when none).",
)


class OutOfStock(Exception):
    pass


class InsufficientPoints(Exception):
    pass


class UnknownItem(Exception):
    pass


class Interrupted(Exception):
    """The redemption was cut short (a crash) and rolled back by the recovery sweep: nothing was debited."""


@dataclass
class Outcome:
    entry: dict
    balance: int
    created: bool


@dataclass
class Recovery:
    completed: int = 0
    compensated: int = 0
    pending: int = 0


_OUTCOMES: dict[type[Exception], str] = {
    UnknownItem: "unknown_item",
    OutOfStock: "out_of_stock",
    InsufficientPoints: "insufficient_points",
    Interrupted: "interrupted",
}

# Called with a step name ("pending", "claimed", "debited") after that step's write: tests inject
# crashes here. Production passes nothing.
FaultHook = Callable[[str], Awaitable[None]]


class Redemptions:
    def __init__(
        self,
        ledger: LedgerRepository,
        wallets: WalletRepository,
        catalog: CatalogRepository,
        db: AsyncDatabase | None = None,
        fault: FaultHook | None = None,
    ) -> None:
        self.ledger = ledger
        self.wallets = wallets
        self.catalog = catalog
        self.collection = (db if db is not None else wallets.collection.database)["redemptions"]
        self._fault = fault

    async def _step(self, name: str) -> None:
        if self._fault is not None:
            await self._fault(name)

    async def redeem(self, advocate_id: str, item_id: str, idempotency_key: str) -> Outcome:
        try:
            outcome = await self._redeem(advocate_id, item_id, idempotency_key)
        except (UnknownItem, OutOfStock, InsufficientPoints, Interrupted) as refused:
            REDEMPTIONS.labels(_OUTCOMES[type(refused)]).inc()
            raise
        REDEMPTIONS.labels("redeemed" if outcome.created else "repeated").inc()
        return outcome

    async def _redeem(self, advocate_id: str, item_id: str, idempotency_key: str) -> Outcome:
        key = f"redeem-{advocate_id}-{idempotency_key}"
        existing = await self._existing(advocate_id, key)
        if existing is not None:
            return existing
        item = await self.catalog.get(item_id)
        if item is None:
            raise UnknownItem(item_id)
        intent = {
            "_id": key,
            "advocate_id": advocate_id,
            "item_id": item_id,
            "cost": int(item["cost"]),
            "state": PENDING,
            "created_at": datetime.now(UTC),
        }
        prior = None
        try:
            await self.collection.insert_one(intent)
        except DuplicateKeyError:  # a retry (or a concurrent twin) of a redemption already started
            prior = await self.collection.find_one({"_id": key})
        if prior is not None:
            if prior["state"] == FAILED:
                raise (OutOfStock if prior.get("reason") == "out_of_stock" else InsufficientPoints)(item_id)
            if prior["state"] == ABANDONED:
                raise Interrupted(key)
            intent = prior  # PENDING: resume it, with the cost it started with
        await self._step("pending")
        return await self._advance(intent)

    async def _advance(self, intent: dict) -> Outcome:
        key, advocate_id, item_id = intent["_id"], intent["advocate_id"], intent["item_id"]
        claim = await self.catalog.claim_of(key) or await self.catalog.take_one(item_id, key)
        if claim is None:
            if await self.wallets.link(key) is None:  # not debited by a twin meanwhile
                await self._finish(key, FAILED, reason="out_of_stock")
                raise OutOfStock(item_id)
            return await self._complete(key, created=False)
        await self._step("claimed")
        extra = {"kind": REDEMPTION, "item_id": item_id, "claim": claim, "at": datetime.now(UTC), "settled": False}
        try:
            created = await self.wallets.apply(advocate_id, key, -int(intent["cost"]), extra)
        except Overdraft:
            await self.catalog.put_back(claim)
            await self._finish(key, FAILED, reason="insufficient_points")
            raise InsufficientPoints(advocate_id) from None
        if not created:
            link = await self.wallets.link(key)
            assert link is not None
            if link.get("kind") == VOID:  # the recovery sweep rolled this redemption back first
                await self.catalog.release(key)
                raise Interrupted(key)
            if link.get("claim") != claim:  # a concurrent twin debited with its own unit
                await self.catalog.put_back(claim)
        await self._step("debited")
        return await self._complete(key, created)

    async def _complete(self, key: str, created: bool) -> Outcome:
        link = await self.wallets.link(key)
        assert link is not None
        doc = await self._settle(link)
        await self.catalog.release(key, keep=link.get("claim"))  # units of crashed twins, if any
        await self._finish(key, DONE)
        return Outcome(doc, await self.wallets.balance(link["advocate_id"]), created)

    async def _finish(self, key: str, state: str, reason: str = "") -> None:
        await self.collection.update_one(
            {"_id": key}, {"$set": {"state": state, "reason": reason, "finished_at": datetime.now(UTC)}}
        )

    async def _existing(self, advocate_id: str, key: str) -> Outcome | None:
        link = await self.wallets.link(key)
        if link is None:
            return None
        if link.get("kind") == VOID:
            raise Interrupted(key)
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

    async def recover(self, older_than_seconds: float) -> Recovery:
        """Completes or rolls back every redemption left PENDING for longer than `older_than_seconds`
        (a crashed attempt); younger ones may still be running and are only counted."""
        report = Recovery()
        await self.settle_pending()
        now = datetime.now(UTC)
        cutoff = now - timedelta(seconds=older_than_seconds)
        pending = [d async for d in self.collection.find({"state": PENDING})]
        # Reported before recovering, so a sweep that keeps failing shows its redemptions ageing.
        _report_pending(now, pending)
        young = []
        for intent in pending:
            if _aware(intent["created_at"]) > cutoff:
                young.append(intent)
            elif await self._recover_one(intent):
                report.completed += 1
            else:
                report.compensated += 1
        report.pending = len(young)
        _report_pending(now, young)
        REDEMPTIONS.labels("recovered_completed").inc(report.completed)
        REDEMPTIONS.labels("recovered_compensated").inc(report.compensated)
        if report.completed or report.compensated:
            log.info("redemptions_recovered", completed=report.completed, compensated=report.compensated)
        return report

    async def _recover_one(self, intent: dict) -> bool:
        """True if the redemption was completed, False if it was rolled back."""
        key, advocate_id = intent["_id"], intent["advocate_id"]
        link = await self.wallets.link(key)
        if link is None:
            void = {"kind": VOID, "item_id": intent["item_id"], "at": datetime.now(UTC), "settled": True}
            if not await self.wallets.apply(advocate_id, key, 0, void):
                link = await self.wallets.link(key)  # the attempt's own debit won the race
        if link is None or link.get("kind") == VOID:
            await self.catalog.release(key)
            await self._finish(key, ABANDONED, reason="interrupted")
            return False
        await self._complete(key, created=False)
        return True


def _report_pending(now: datetime, pending: list[dict]) -> None:
    REDEMPTIONS_PENDING.set(len(pending))
    oldest = min((_aware(d["created_at"]) for d in pending), default=now)
    REDEMPTIONS_PENDING_AGE.set((now - oldest).total_seconds())


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


__all__ = [
    "InsufficientPoints",
    "Interrupted",
    "OutOfStock",
    "Outcome",
    "Recovery",
    "Redemptions",
    "UnknownItem",
    "entry_id",
]
