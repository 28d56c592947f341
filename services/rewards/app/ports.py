"""What the rewards read use cases need from the outside world, as protocols: the adapters
implement them in production, in-memory fakes in unit tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from services.rewards.domain.rules import RuleSet

# The rule set in force (a short-lived cache in the service).
ActiveRules = Callable[[], Awaitable[RuleSet]]


class AccountsUnavailable(Exception):
    """The account view has not been confirmed current (starting, or Kafka away) within the wait."""


class AccountReader(Protocol):
    async def get(self, advocate_id: str) -> dict[str, int]:
        """The advocate's summary (`account.summary`; {} if unknown). Raises AccountsUnavailable."""
        ...


class BoardDocumentReader(Protocol):
    async def read(self, board_id: str) -> list[dict | None]:
        """The board's document of every partition (None where a partition has none)."""
        ...


class LedgerTotals(Protocol):
    async def balance(self, advocate_id: str) -> tuple[int, int]:
        """(points, entries) summed from the ledger itself: an audit of the account."""
        ...
