"""Use case: redeem points for a catalogue item. `Redeem` asks the advocate's partition owner and waits for its answer.

The request goes to the advocate-keyed redemption topic that the award agent consumes with the
advocate's awards, so debits and credits reach the advocate's state in one order: the agent
debits only what the balance covers (never negative), claims a stock unit (a unique insert), books
the negative entry, announces it as `points-awarded` and records the outcome document
(`_id` = the redemption key). The call polls that document by `_id`. A retry with the same
idempotency key finds the outcome (or asks again: the agent decides a key once), `created: false`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from services.rewards.app.incoming import RedemptionRequest
from services.rewards.domain.account import INSUFFICIENT_POINTS, OUT_OF_STOCK, REDEEMED

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


# Sends (advocate id, request) to the redemption topic, returning once Kafka acknowledged it.
SendRequest = Callable[[str, RedemptionRequest], Awaitable[None]]


class Catalog(Protocol):
    async def get(self, item_id: str) -> dict | None:
        """The item (with its `cost`), or None when the catalogue has no such item."""
        ...


class Outcomes(Protocol):
    async def get(self, key: str) -> dict | None:
        """The award agent's decision on redemption `key`, or None while it has not decided."""
        ...


def redemption_key(advocate_id: str, idempotency_key: str) -> str:
    return f"redeem-{advocate_id}-{idempotency_key}"


class Redemptions:
    def __init__(
        self,
        catalog: Catalog,
        outcomes: Outcomes,
        send: SendRequest,
        timeout_seconds: float,
        on_outcome: Callable[[str], None] = lambda outcome: None,
        on_pending: Callable[[int, float], None] = lambda waiting, oldest_age_seconds: None,
    ) -> None:
        """`on_outcome`: each call's outcome label; `on_pending`: calls waiting and the oldest's age."""
        self.catalog = catalog
        self.outcomes = outcomes
        self._send = send
        self._timeout = timeout_seconds
        self._on_outcome = on_outcome
        self._on_pending = on_pending
        self._waiting: dict[str, float] = {}  # request id -> when the call started waiting

    async def redeem(self, advocate_id: str, item_id: str, idempotency_key: str) -> Outcome:
        try:
            outcome = await self._redeem(advocate_id, item_id, redemption_key(advocate_id, idempotency_key))
        except (UnknownItem, OutOfStock, InsufficientPoints, NotDecided) as refused:
            self._on_outcome(_OUTCOMES[type(refused)])
            raise
        self._on_outcome("redeemed" if outcome.created else "repeated")
        return outcome

    async def _redeem(self, advocate_id: str, item_id: str, key: str) -> Outcome:
        decided = await self.outcomes.get(key)
        if decided is not None:
            return _outcome(decided, created=False)
        item = await self.catalog.get(item_id)
        if item is None:
            raise UnknownItem(item_id)
        request_id = uuid.uuid4().hex
        await self._send(advocate_id, RedemptionRequest(key, request_id, item_id, int(item["cost"])))
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
        oldest = min(self._waiting.values(), default=time.monotonic())
        self._on_pending(len(self._waiting), time.monotonic() - oldest)


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
