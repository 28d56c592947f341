"""Use cases over an advocate's account summary: the balance (GetBalance) and the badges earned
under the rule set in force (GetBadges). The summary comes from the account view kept from the
`rewards-accounts` topic (services/rewards/adapters/accounts.py); the ledger is read only to audit it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from services.rewards.app.leaderboards import Leaderboards
from services.rewards.app.ports import AccountReader, ActiveRules, LedgerTotals
from services.rewards.domain import badges
from services.rewards.domain.badges import BadgeFacts, BadgeRule


@dataclass(frozen=True)
class Balance:
    points: int  # earned minus redeemed, from the account
    ledger: tuple[int, int] | None = None  # (points, entries) summed from the ledger, when checked


@dataclass(frozen=True)
class EarnedBadges:
    earned: list[BadgeRule]  # in the rule set's order
    rule_set_version: int


def badge_facts(summary: dict[str, int], monthly_rank: int | None) -> BadgeFacts:
    return BadgeFacts(
        shares=int(summary.get("shares", 0)),
        clicks=int(summary.get("click_units", 0)),
        longest_run=int(summary.get("best_run", 0)),
        leader=bool(summary.get("leader", 0)),
        max_month_shares=int(summary.get("max_month_shares", 0)),
        monthly_rank=monthly_rank,
        lessons_completed=int(summary.get("lessons", 0)),
    )


def _today() -> date:
    return datetime.now(UTC).date()


class AccountQueries:
    def __init__(
        self,
        accounts: AccountReader,
        ledger: LedgerTotals,
        rules: ActiveRules,
        leaderboards: Leaderboards,
        today: Callable[[], date] = _today,
    ) -> None:
        self._accounts = accounts
        self._ledger = ledger
        self._rules = rules
        self._leaderboards = leaderboards
        self._today = today

    async def balance(self, advocate_id: str, with_ledger_check: bool = False) -> Balance:
        """Raises AccountsUnavailable while the account view is not current."""
        summary = await self._accounts.get(advocate_id)
        points = int(summary.get("earned", 0)) - int(summary.get("redeemed", 0))
        if not with_ledger_check:
            return Balance(points)
        # Both figures are answered: the caller sees where the ledger sink lags or disagrees.
        return Balance(points, await self._ledger.balance(advocate_id))

    async def badges(self, advocate_id: str) -> EarnedBadges:
        """Raises AccountsUnavailable while the account view is not current."""
        summary = await self._accounts.get(advocate_id)
        rules = await self._rules()
        rank = None
        if badges.needs_rank(rules.badges):  # the board is read only when a badge asks for a rank
            rank = await self._leaderboards.monthly_rank(advocate_id, self._today())
        return EarnedBadges(badges.earned(rules.badges, badge_facts(summary, rank)), rules.version)
