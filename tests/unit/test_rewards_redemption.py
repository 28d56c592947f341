"""Redeem, the API side, over in-memory fakes: it asks the advocate's partition owner once per key,
waits for the decision and turns it into the caller's answer."""

from __future__ import annotations

import asyncio

import pytest

from services.rewards.app.incoming import RedemptionRequest
from services.rewards.app.redemption import (
    InsufficientPoints,
    NotDecided,
    OutOfStock,
    Redemptions,
    UnknownItem,
    redemption_key,
)
from services.rewards.domain.account import INSUFFICIENT_POINTS, OUT_OF_STOCK, REDEEMED


class FakeCatalog:
    def __init__(self, **costs: int) -> None:
        self.costs = costs

    async def get(self, item_id: str) -> dict | None:
        return {"_id": item_id, "cost": self.costs[item_id]} if item_id in self.costs else None


class FakeOutcomes:
    def __init__(self) -> None:
        self.decided: dict[str, dict] = {}

    async def get(self, key: str) -> dict | None:
        return self.decided.get(key)


class FakeAgent:
    """The award agent: decides each request it is sent with `status` (None: never answers)."""

    def __init__(self, outcomes: FakeOutcomes, status: str | None = REDEEMED, balance: int = 70) -> None:
        self.outcomes, self.status, self.balance = outcomes, status, balance
        self.sent: list[tuple[str, RedemptionRequest]] = []

    async def send(self, advocate_id: str, request: RedemptionRequest) -> None:
        self.sent.append((advocate_id, request))
        if self.status is not None and request.key not in self.outcomes.decided:
            entry = {"points": -request.cost} if self.status == REDEEMED else None
            self.outcomes.decided[request.key] = {
                "_id": request.key,
                "request_id": request.request_id,
                "advocate_id": advocate_id,
                "item_id": request.item_id,
                "status": self.status,
                "entry": entry,
                "balance": self.balance,
            }


def redemptions(status: str | None = REDEEMED) -> tuple[Redemptions, FakeAgent, list[str], list[tuple[int, float]]]:
    outcomes = FakeOutcomes()
    agent = FakeAgent(outcomes, status)
    counted: list[str] = []
    pending: list[tuple[int, float]] = []
    use_case = Redemptions(
        FakeCatalog(mug=30),
        outcomes,
        agent.send,
        timeout_seconds=0.05,
        on_outcome=counted.append,
        on_pending=lambda waiting, age: pending.append((waiting, age)),
    )
    return use_case, agent, counted, pending


def test_a_redemption_asks_the_agent_with_the_items_cost_and_answers_its_decision():
    use_case, agent, counted, pending = redemptions()
    outcome = asyncio.run(use_case.redeem("aino", "mug", "k1"))
    assert (outcome.entry, outcome.balance, outcome.created) == ({"points": -30}, 70, True)
    [(advocate_id, request)] = agent.sent
    assert (advocate_id, request.key, request.item_id, request.cost) == (
        "aino",
        redemption_key("aino", "k1"),
        "mug",
        30,
    )
    assert counted == ["redeemed"]
    assert [waiting for waiting, _ in pending] == [1, 0]  # waiting while asked, none after


def test_a_retry_with_the_same_key_finds_the_decision_without_asking_again():
    use_case, agent, counted, _ = redemptions()
    asyncio.run(use_case.redeem("aino", "mug", "k1"))
    again = asyncio.run(use_case.redeem("aino", "mug", "k1"))
    assert (again.created, len(agent.sent), counted) == (False, 1, ["redeemed", "repeated"])


@pytest.mark.parametrize(
    ("status", "item_id", "error", "label"),
    [
        (OUT_OF_STOCK, "mug", OutOfStock, "out_of_stock"),
        (INSUFFICIENT_POINTS, "mug", InsufficientPoints, "insufficient_points"),
        (REDEEMED, "yacht", UnknownItem, "unknown_item"),
        (None, "mug", NotDecided, "timed_out"),
    ],
)
def test_refusals_are_raised_and_counted_by_outcome(status: str | None, item_id: str, error: type, label: str):
    use_case, agent, counted, pending = redemptions(status)
    with pytest.raises(error):
        asyncio.run(use_case.redeem("aino", item_id, "k1"))
    assert counted == [label]
    assert len(agent.sent) == (0 if error is UnknownItem else 1)  # an unknown item is not asked about
    if pending:
        assert pending[-1][0] == 0  # a call that gave up no longer counts as waiting
