"""RewardsService handlers on the real MongoDB-protocol server: admin, catalogue, badges, statuses."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from advocacy.rewards.v1 import rewards_pb2
from grpc_interceptor.exceptions import FailedPrecondition, InvalidArgument, NotFound
from pymongo import AsyncMongoClient

from services.common.read_cache import ReadCache
from services.rewards.adapters.ledger import LedgerRepository, ledger_document
from services.rewards.adapters.redemption import Redemptions
from services.rewards.adapters.store import (
    CampaignRepository,
    CatalogRepository,
    RuleSetRepository,
    WalletRepository,
)
from services.rewards.api.servicer import Repositories, RewardsServicer


@pytest.fixture
async def api(isolated):
    mongo = AsyncMongoClient(isolated.stack.mongo_url, tz_aware=True)
    db = mongo[isolated.database]
    ledger, wallets, catalog = LedgerRepository(db), WalletRepository(db), CatalogRepository(db)
    await ledger.ensure_indexes()
    await wallets.ensure_indexes()
    repos = Repositories(
        ledger, wallets, catalog, RuleSetRepository(db), CampaignRepository(db), Redemptions(ledger, wallets, catalog)
    )
    yield RewardsServicer(lambda: repos), repos
    await mongo.close()


async def award(repos: Repositories, event: str, rule: str, points: int, day: str, units: int = 1, leader=False):
    doc = ledger_document(
        source_event_id=event,
        rule=rule,
        advocate_id="aino",
        points=points,
        rule_set_version=1,
        campaign_id="",
        content_id="c1",
        occurred_at=datetime.fromisoformat(day).replace(tzinfo=UTC),
        team="sales",
        leader=leader,
        local_day=day,
        units=units,
    )
    await repos.ledger.record([doc])
    await repos.wallets.credit("aino", event, points)


async def test_rule_sets_through_the_admin_rpc(api):
    servicer, _ = api
    current = await servicer.GetRuleSet(rewards_pb2.GetRuleSetRequest(), None)
    assert current.version == 1 and current.daily_cap == 200 and current.streak_bonus == 20
    changed = rewards_pb2.RuleSet()
    changed.CopyFrom(current)
    changed.daily_cap = 300
    changed.share_points_by_network["NETWORK_XING"] = 12
    stored = await servicer.PutRuleSet(rewards_pb2.PutRuleSetRequest(rules=changed), None)
    assert stored.version == 2 and stored.daily_cap == 300 and stored.share_points_by_network["NETWORK_XING"] == 12
    assert (await servicer.GetRuleSet(rewards_pb2.GetRuleSetRequest(), None)).version == 2
    changed.daily_cap = -1
    with pytest.raises(InvalidArgument, match="daily_cap"):
        await servicer.PutRuleSet(rewards_pb2.PutRuleSetRequest(rules=changed), None)


async def test_catalogue_redemption_statuses_and_balance(api):
    servicer, repos = api
    await award(repos, "e1", "share", 40, "2026-11-02")
    item = rewards_pb2.CatalogItem(item_id="mug", name="Mug", cost=30, stock=1)
    assert (await servicer.UpsertCatalogItem(rewards_pb2.UpsertCatalogItemRequest(item=item), None)).stock == 1
    with pytest.raises(InvalidArgument, match=r"item\.cost"):
        bad = rewards_pb2.CatalogItem(item_id="x", name="X", cost=0, stock=1)
        await servicer.UpsertCatalogItem(rewards_pb2.UpsertCatalogItemRequest(item=bad), None)
    with pytest.raises(NotFound, match="item_id"):
        await servicer.Redeem(rewards_pb2.RedeemRequest(advocate_id="aino", item_id="nope", idempotency_key="k"), None)
    done = await servicer.Redeem(
        rewards_pb2.RedeemRequest(advocate_id="aino", item_id="mug", idempotency_key="k1"), None
    )
    assert done.created and done.balance == 10 and done.entry.points == -30 and done.entry.rule == "redemption"
    again = await servicer.Redeem(
        rewards_pb2.RedeemRequest(advocate_id="aino", item_id="mug", idempotency_key="k1"), None
    )
    assert not again.created and again.balance == 10
    with pytest.raises(FailedPrecondition, match="out of stock"):
        await servicer.Redeem(rewards_pb2.RedeemRequest(advocate_id="aino", item_id="mug", idempotency_key="k2"), None)
    await servicer.UpsertCatalogItem(rewards_pb2.UpsertCatalogItemRequest(item=item), None)  # restock 1
    with pytest.raises(FailedPrecondition, match="balance"):
        await servicer.Redeem(rewards_pb2.RedeemRequest(advocate_id="aino", item_id="mug", idempotency_key="k3"), None)
    listed = await servicer.ListCatalog(rewards_pb2.ListCatalogRequest(), None)
    assert [(i.item_id, i.stock) for i in listed.items] == [("mug", 1)]  # the refused debit gave the unit back
    balance = await servicer.GetBalance(rewards_pb2.GetBalanceRequest(advocate_id="aino"), None)
    assert (balance.points, balance.ledger_points, balance.entries) == (10, 0, 0)  # the wallet alone
    request = rewards_pb2.GetBalanceRequest(advocate_id="aino", with_ledger_check=True)
    balance = await servicer.GetBalance(request, None)
    assert (balance.points, balance.ledger_points, balance.entries) == (10, 10, 2)


async def test_a_redemption_interrupted_before_its_ledger_entry_is_settled(api):
    _, repos = api
    await award(repos, "e1", "share", 50, "2026-11-02")
    # As if the process died right after the wallet debit.
    extra = {"kind": "redemption", "item_id": "mug", "claim": "mug:0", "at": datetime.now(UTC), "settled": False}
    assert await repos.wallets.apply("aino", "redeem-aino-x", -20, extra)
    assert (await repos.ledger.balance("aino"))[0] == 50
    assert await repos.redemptions.settle_pending() == 1
    assert (await repos.ledger.balance("aino"))[0] == 30 == await repos.wallets.balance("aino")
    assert await repos.redemptions.settle_pending() == 0


async def test_badges_and_board_validation(api):
    servicer, repos = api
    today = datetime.now(UTC).date()
    for d in range(1, 11):
        await award(repos, f"s{d}", "share", 10, f"2026-10-{d:02d}", leader=True)
    await award(repos, "c1", "click", 200, today.isoformat(), units=100)
    badges = await servicer.GetBadges(rewards_pb2.GetBadgesRequest(advocate_id="aino"), None)
    assert set(badges.badges) == {
        "first_share",
        "ten_shares",
        "hundred_clicks",
        "seven_day_streak",
        "top_ten_of_month",
        "leader_voice",
    }
    with pytest.raises(InvalidArgument, match="period"):
        await servicer.GetLeaderboard(rewards_pb2.GetLeaderboardRequest(board=rewards_pb2.BOARD_GLOBAL), None)
    with pytest.raises(InvalidArgument, match="team"):
        await servicer.GetLeaderboard(
            rewards_pb2.GetLeaderboardRequest(board=rewards_pb2.BOARD_TEAM, period=rewards_pb2.PERIOD_ALL_TIME), None
        )
    board = await servicer.GetLeaderboard(
        rewards_pb2.GetLeaderboardRequest(
            board=rewards_pb2.BOARD_TEAM, period=rewards_pb2.PERIOD_ALL_TIME, team="sales"
        ),
        None,
    )
    assert [(r.rank, r.key, r.points) for r in board.rows] == [(1, "aino", 300)]


async def test_cached_boards_follow_the_ledger_within_their_ttl_and_balances_stay_exact(api):
    _, repos = api
    servicer = RewardsServicer(lambda: repos, ReadCache(ttl=0.5, max_stale=30))
    request = rewards_pb2.GetLeaderboardRequest(board=rewards_pb2.BOARD_GLOBAL, period=rewards_pb2.PERIOD_ALL_TIME)

    async def board() -> list[tuple[str, int]]:
        return [(r.key, r.points) for r in (await servicer.GetLeaderboard(request, None)).rows]

    await award(repos, "e1", "share", 40, "2026-11-02")
    assert await board() == [("aino", 40)]
    await award(repos, "e2", "share", 25, "2026-11-03")
    # Within the ttl the board is the one computed before; the balance is read from the wallet at once.
    assert await board() == [("aino", 40)]
    check = rewards_pb2.GetBalanceRequest(advocate_id="aino", with_ledger_check=True)
    balance = await servicer.GetBalance(check, None)
    assert balance.points == balance.ledger_points == 65
    await asyncio.sleep(0.6)
    assert await board() == [("aino", 40)]  # stale: answered at once, a refresh started
    deadline = time.monotonic() + 10
    while await board() != [("aino", 65)]:
        assert time.monotonic() < deadline, "the cached board never caught up with the ledger"
        await asyncio.sleep(0.1)
    # Another board is its own query; an invalid one is refused before the cache.
    teams = await servicer.GetLeaderboard(
        rewards_pb2.GetLeaderboardRequest(board=rewards_pb2.BOARD_TEAMS, period=rewards_pb2.PERIOD_ALL_TIME), None
    )
    assert [(r.key, r.points) for r in teams.rows] == [("sales", 65)]
    with pytest.raises(InvalidArgument, match="team"):
        await servicer.GetLeaderboard(
            rewards_pb2.GetLeaderboardRequest(board=rewards_pb2.BOARD_TEAM, period=rewards_pb2.PERIOD_ALL_TIME), None
        )
