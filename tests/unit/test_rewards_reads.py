"""The rewards read use cases over in-memory fakes: a leaderboard merged from its partitions'
documents, the balance from the account summary (and its ledger audit), badges from the rule set."""

from __future__ import annotations

from datetime import date

import pytest
from advocacy.rewards.v1 import rewards_pb2
from grpc_interceptor.exceptions import Unavailable

from services.common.read_cache import ReadCache
from services.rewards.api.servicer import Repositories, RewardsServicer
from services.rewards.app.accounts import AccountQueries
from services.rewards.app.leaderboards import BoardQuery, Leaderboards
from services.rewards.app.ports import AccountsUnavailable
from services.rewards.domain import badges, boards, leaderboards
from services.rewards.domain.badges import BadgeRule
from services.rewards.domain.rules import RuleSet

DAY = date(2026, 10, 7)  # a Wednesday: its week starts on 2026-10-05


class MemoryBoards:
    """Board documents per partition, by board id; records which boards were read."""

    def __init__(self, partitions: int = 3) -> None:
        self.partitions = partitions
        self.documents: dict[str, dict[int, dict]] = {}
        self.reads: list[str] = []

    def put(self, board_id: str, partition: int, **value: list[dict]) -> None:
        self.documents.setdefault(board_id, {})[partition] = {"_id": f"{board_id}:{partition}", **value}

    async def read(self, board_id: str) -> list[dict | None]:
        self.reads.append(board_id)
        held = self.documents.get(board_id, {})
        return [held.get(p) for p in range(self.partitions)]


class MemoryAccounts:
    def __init__(self, available: bool = True, **summaries: dict[str, int]) -> None:
        self.summaries, self.available = summaries, available

    async def get(self, advocate_id: str) -> dict[str, int]:
        if not self.available:
            raise AccountsUnavailable("the account view is catching up with Kafka; retry shortly")
        return self.summaries.get(advocate_id, {})


class MemoryLedger:
    def __init__(self, **totals: tuple[int, int]) -> None:
        self.totals, self.reads = totals, 0

    async def balance(self, advocate_id: str) -> tuple[int, int]:
        self.reads += 1
        return self.totals.get(advocate_id, (0, 0))


def rows(board: list) -> list[tuple[str, int]]:
    return [(r.key, r.points) for r in board]


async def test_a_board_is_merged_from_its_partitions_documents_in_rank_order_ties_by_key():
    documents = MemoryBoards()
    week = leaderboards.board_id(leaderboards.GLOBAL, "", "week:2026-10-05")
    documents.put(week, 0, rows=[{"k": "bea", "p": 30}, {"k": "dan", "p": 10}])
    documents.put(week, 2, rows=[{"k": "aino", "p": 30}, {"k": "cai", "p": 20}])  # partition 1: none
    board = await Leaderboards(documents).board(BoardQuery(leaderboards.GLOBAL, "", boards.WEEK, DAY))
    assert rows(board.rows) == [("aino", 30), ("bea", 30), ("cai", 20), ("dan", 10)]
    assert (board.first_day, board.last_day) == ("2026-10-05", "2026-10-11")
    assert documents.reads == [week]


async def test_a_team_or_campaign_board_is_read_by_its_argument_and_all_time_has_no_days():
    documents = MemoryBoards()
    sales = leaderboards.board_id(leaderboards.TEAM, "sales", "all_time")
    documents.put(sales, 1, rows=[{"k": "aino", "p": 5}])
    board = await Leaderboards(documents).board(BoardQuery(leaderboards.TEAM, "sales", boards.ALL_TIME, DAY))
    assert rows(board.rows) == [("aino", 5)] and (board.first_day, board.last_day) == ("", "")
    campaign = await Leaderboards(documents).board(BoardQuery(leaderboards.CAMPAIGN, "autumn", boards.ALL_TIME, DAY))
    assert campaign.rows == [] and documents.reads[-1] == "campaign:autumn:all_time"


async def test_the_teams_board_ranks_by_points_or_per_active_advocate_from_the_same_documents():
    documents = MemoryBoards()
    teams = leaderboards.board_id(leaderboards.TEAMS, "", "month:2026-10-01")
    documents.put(teams, 0, teams=[{"t": "sales", "p": 100, "a": 2}, {"t": "ops", "p": 120, "a": 1}])
    documents.put(teams, 1, teams=[{"t": "sales", "p": 50, "a": 1}])
    # A cache that keeps every board: the two rankings must still be two results.
    answer = Leaderboards(documents, ReadCache(ttl=60, max_stale=60))
    by_points = await answer.board(BoardQuery(leaderboards.TEAMS, "", boards.MONTH, DAY))
    fair = await answer.board(BoardQuery(leaderboards.TEAMS, "", boards.MONTH, DAY, per_active_advocate=True))
    assert [(r.key, r.points, r.advocates) for r in by_points.rows] == [("sales", 150, 3), ("ops", 120, 1)]
    assert [(r.key, r.score) for r in fair.rows] == [("ops", 120.0), ("sales", 50.0)]
    again = await answer.board(BoardQuery(leaderboards.TEAMS, "", boards.MONTH, DAY))
    assert rows(again.rows) == rows(by_points.rows) and len(documents.reads) == 2  # answered from the cache


async def test_the_monthly_rank_is_the_place_on_this_months_global_board():
    documents = MemoryBoards()
    month = leaderboards.board_id(leaderboards.GLOBAL, "", "month:2026-10-01")
    documents.put(month, 0, rows=[{"k": "bea", "p": 40}])
    documents.put(month, 1, rows=[{"k": "aino", "p": 25}, {"k": "zero", "p": 0}])
    answer = Leaderboards(documents)
    assert await answer.monthly_rank("aino", DAY) == 2
    assert await answer.monthly_rank("zero", DAY) is None  # on the board without points: not ranked
    assert await answer.monthly_rank("nobody", DAY) is None


def queries(
    accounts: MemoryAccounts, ledger: MemoryLedger | None = None, rules: RuleSet | None = None, documents=None
) -> AccountQueries:
    async def active() -> RuleSet:
        return rules or RuleSet(version=1)

    board = Leaderboards(documents or MemoryBoards())
    return AccountQueries(accounts, ledger or MemoryLedger(), active, board, today=lambda: DAY)


async def test_the_balance_is_earned_minus_redeemed_without_reading_the_ledger():
    ledger = MemoryLedger(aino=(70, 3))
    answer = queries(MemoryAccounts(aino={"earned": 100, "redeemed": 30}), ledger)
    balance = await answer.balance("aino")
    assert balance.points == 70 and balance.ledger is None and ledger.reads == 0
    assert (await answer.balance("nobody")).points == 0


async def test_the_ledger_check_reports_both_figures_when_they_disagree():
    answer = queries(MemoryAccounts(aino={"earned": 100, "redeemed": 30}), MemoryLedger(aino=(60, 4)))
    balance = await answer.balance("aino", with_ledger_check=True)
    assert balance.points == 70 and balance.ledger == (60, 4)


async def test_badges_are_earned_from_the_account_facts_under_a_custom_rule_set():
    rules = RuleSet(
        version=4,
        badges=(
            BadgeRule("five_shares", "5 shares", badges.SHARES, 5),
            BadgeRule("fifty_clicks", "50 clicks", badges.CLICKS, 50),
            BadgeRule("top_two", "Top two", badges.MONTHLY_RANK, 2),
            BadgeRule("week_run", "7 days", badges.STREAK_DAYS, 7),
            BadgeRule("leader_three", "Leader", badges.LEADER_MONTH_SHARES, 3),
        ),
    )
    documents = MemoryBoards()
    month = leaderboards.board_id(leaderboards.GLOBAL, "", "month:2026-10-01")
    documents.put(month, 0, rows=[{"k": "bea", "p": 40}, {"k": "aino", "p": 25}])
    summary = {"shares": 6, "click_units": 49, "best_run": 7, "leader": 1, "max_month_shares": 3}
    got = await queries(MemoryAccounts(aino=summary), rules=rules, documents=documents).badges("aino")
    assert [b.badge_id for b in got.earned] == ["five_shares", "top_two", "week_run", "leader_three"]
    assert got.rule_set_version == 4


async def test_ready_to_share_shows_once_the_account_has_a_completed_lesson():
    answer = queries(MemoryAccounts(aino={"lessons": 1}, bea={"shares": 1}))
    assert [b.badge_id for b in (await answer.badges("aino")).earned] == ["ready-to-share"]
    assert [b.badge_id for b in (await answer.badges("bea")).earned] == ["first_share"]


async def test_a_rule_set_without_a_rank_badge_never_reads_the_board():
    rules = RuleSet(version=2, badges=(BadgeRule("first", "First", badges.SHARES, 1),))
    documents = MemoryBoards()
    got = await queries(MemoryAccounts(aino={"shares": 1}), rules=rules, documents=documents).badges("aino")
    assert [b.badge_id for b in got.earned] == ["first"] and documents.reads == []


async def test_an_account_view_not_current_is_unavailable_through_the_api():
    # Only what the two reads use; the other repositories are never touched.
    repos = Repositories(MemoryLedger(), MemoryAccounts(available=False), MemoryBoards(), *[None] * 4)
    servicer = RewardsServicer(lambda: repos, rules=lambda: _rules())
    with pytest.raises(Unavailable, match="catching up"):
        await servicer.GetBalance(rewards_pb2.GetBalanceRequest(advocate_id="aino"), None)
    with pytest.raises(Unavailable, match="catching up"):
        await servicer.GetBadges(rewards_pb2.GetBadgesRequest(advocate_id="aino"), None)


async def _rules() -> RuleSet:
    return RuleSet(version=1)
