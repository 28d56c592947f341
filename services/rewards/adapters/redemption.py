"""Redemption, the API side: `Redeem` asks the advocate's partition owner and waits for its answer.

The request goes to the advocate-keyed redemption topic that the award agent consumes with the
advocate's awards, so debits and credits reach the advocate's state in one order: the agent
debits only what the balance covers (never negative), claims a stock unit (a unique insert), books
the negative entry, announces it as `points-awarded` and records the outcome document
(`_id` = the redemption key). The call polls that document by `_id`. A retry with the same
idempotency key finds the outcome (or asks again: the agent decides a key once), `created: false`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import Counter, Gauge

from services.rewards.adapters.store import CatalogRepository, RedemptionOutcomes
from services.rewards.domain.account import INSUFFICIENT_POINTS, OUT_OF_STOCK, REDEEMED

REDEMPTIONS = Counter(
    "advocacy_rewards_redemptions_total",
    "Redemption requests by outcome (redeemed, repeated, out_of_stock, insufficient_points, unknown_item, timed_out).",
    ["outcome"],
)
REDEMPTIONS_PENDING = Gauge(
    "advocacy_rewards_redemptions_pending", "Redeem calls of this replica waiting for the award agent's outcome."
)
REDEMPTIONS_PENDING_AGE = Gauge(
    "advocacy_rewards_redemption_pending_oldest_age_seconds",
    "How long the oldest Redeem call of this replica has waited for its outcome (0 when none).",
)
POLL_FIRST_SECONDS = 0.005
POLL_MAX_SECONDS = 0.1


class OutOfStock(Exception):
    pass


class InsufficientPoints(Exception):
    pass


class UnknownItem(Exception):
    pass


class NotDecided(Exception):
    """The award agent did not answer in time (rebalancing, or the database away): retry, same key."""


@dataclass
class Outcome:
    entry: dict
    balance: int
    created: bool


# Sends (advocate id, request JSON) to the redemption topic, returning once Kafka acknowledged it.
SendRequest = Callable[[str, bytes], Awaitable[None]]


def redemption_key(advocate_id: str, idempotency_key: str) -> str:
    return f"redeem-{advocate_id}-{idempotency_key}"


class Redemptions:
    def __init__(
        self, catalog: CatalogRepository, outcomes: RedemptionOutcomes, send: SendRequest, timeout_seconds: float
    ) -> None:
        self.catalog = catalog
        self.outcomes = outcomes
        self._send = send
        self._timeout = timeout_seconds
        self._waiting: dict[str, float] = {}  # request id -> when the call started waiting

    async def redeem(self, advocate_id: str, item_id: str, idempotency_key: str) -> Outcome:
        try:
            outcome = await self._redeem(advocate_id, item_id, redemption_key(advocate_id, idempotency_key))
        except (UnknownItem, OutOfStock, InsufficientPoints, NotDecided) as refused:
            REDEMPTIONS.labels(_OUTCOMES[type(refused)]).inc()
            raise
        REDEMPTIONS.labels("redeemed" if outcome.created else "repeated").inc()
        return outcome

    async def _redeem(self, advocate_id: str, item_id: str, key: str) -> Outcome:
        decided = await self.outcomes.get(key)
        if decided is not None:
            return _outcome(decided, created=False)
        item = await self.catalog.get(item_id)
        if item is None:
            raise UnknownItem(item_id)
        request_id = uuid.uuid4().hex
        request = {"key": key, "request_id": request_id, "item_id": item_id, "cost": int(item["cost"])}
        await self._send(advocate_id, json.dumps(request).encode())
        decided = await self._wait(key, request_id)
        return _outcome(decided, created=decided["request_id"] == request_id)

    async def _wait(self, key: str, request_id: str) -> dict:
        start = time.monotonic()
        self._waiting[request_id] = start
        self._report()
        delay = POLL_FIRST_SECONDS
        try:
            while (decided := await self.outcomes.get(key)) is None:
                if time.monotonic() - start > self._timeout:
                    raise NotDecided(key)
                await asyncio.sleep(delay)
                delay = min(delay * 2, POLL_MAX_SECONDS)
            return decided
        finally:
            del self._waiting[request_id]
            self._report()

    def _report(self) -> None:
        REDEMPTIONS_PENDING.set(len(self._waiting))
        oldest = min(self._waiting.values(), default=time.monotonic())
        REDEMPTIONS_PENDING_AGE.set(time.monotonic() - oldest)


def _outcome(decided: dict, created: bool) -> Outcome:
    if decided["status"] == OUT_OF_STOCK:
        raise OutOfStock(decided["item_id"])
    if decided["status"] == INSUFFICIENT_POINTS:
        raise InsufficientPoints(decided["advocate_id"])
    assert decided["status"] == REDEEMED
    return Outcome(decided["entry"], int(decided["balance"]), created)


_OUTCOMES: dict[type[Exception], str] = {
    UnknownItem: "unknown_item",
    OutOfStock: "out_of_stock",
    InsufficientPoints: "insufficient_points",
    NotDecided: "timed_out",
}
