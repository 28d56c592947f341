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
from services.rewards.app.incoming import RedemptionRequest
from services.rewards.domain.badges import DEFAULT_BADGES
from services.rewards.domain.rules import RuleSet
from tests.integration.rewards_harness import Harness


@pytest.fixture
async def api(isolated):
    mongo = AsyncMongoClient(isolated.stack.mongo_url, tz_aware=True)
    harness = Harness(mongo[isolated.database])
    await harness.ledger.ensure_indexes()
    yield harness.servicer(), harness
    await mongo.close()


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


async def test_lesson_points_through_the_admin_rpc_absent_means_the_default(api):
    servicer, h = api
    current = await servicer.GetRuleSet(rewards_pb2.GetRuleSetRequest(), None)
    assert current.HasField("lesson_points") and current.lesson_points == 20
    changed = rewards_pb2.RuleSet()
    changed.CopyFrom(current)
    changed.lesson_points = 0  # explicit: completions earn nothing (and are still on the record)
    assert (await servicer.PutRuleSet(rewards_pb2.PutRuleSetRequest(rules=changed), None)).lesson_points == 0
    changed.lesson_points = 35
    assert (await servicer.PutRuleSet(rewards_pb2.PutRuleSetRequest(rules=changed), None)).lesson_points == 35
    changed.ClearField("lesson_points")  # a client that does not know the field
    changed.daily_cap = 150
    stored = await servicer.PutRuleSet(rewards_pb2.PutRuleSetRequest(rules=changed), None)
    assert stored.version == 4 and stored.daily_cap == 150 and stored.lesson_points == 20
    changed.lesson_points = -5
    with pytest.raises(InvalidArgument, match=r"rules\.lesson_points: must be 0\.\."):
        await servicer.PutRuleSet(rewards_pb2.PutRuleSetRequest(rules=changed), None)
    # A rule set stored before lessons existed reads as the default.
    doc = {**RuleSet(daily_cap=120).to_doc(), "created_at": datetime.now(UTC)}
    del doc["lesson_points"], doc["version"]
    await h.db["rule_sets"].insert_one({"_id": 9, **doc})
    current = await servicer.GetRuleSet(rewards_pb2.GetRuleSetRequest(), None)
    assert current.version == 9 and current.daily_cap == 120 and current.lesson_points == 20


async def test_own_post_points_through_the_admin_rpc_absent_means_as_a_share(api):
    servicer, h = api
    current = await servicer.GetRuleSet(rewards_pb2.GetRuleSetRequest(), None)
    assert not current.HasField("own_post_points")  # "as a share" (the network's share points)
    changed = rewards_pb2.RuleSet()
    changed.CopyFrom(current)
    changed.own_post_points = 0  # explicit: own posts earn nothing (still on the record)
    stored = await servicer.PutRuleSet(rewards_pb2.PutRuleSetRequest(rules=changed), None)
    assert stored.HasField("own_post_points") and stored.own_post_points == 0
    changed.own_post_points = 12
    assert (await servicer.PutRuleSet(rewards_pb2.PutRuleSetRequest(rules=changed), None)).own_post_points == 12
    assert (await servicer.GetRuleSet(rewards_pb2.GetRuleSetRequest(), None)).own_post_points == 12
    changed.ClearField("own_post_points")  # a client that does not know the field: as a share again
    stored = await servicer.PutRuleSet(rewards_pb2.PutRuleSetRequest(rules=changed), None)
    assert not stored.HasField("own_post_points")
    changed.own_post_points = -1
    with pytest.raises(InvalidArgument, match=r"rules\.own_post_points: must be 0\.\."):
        await servicer.PutRuleSet(rewards_pb2.PutRuleSetRequest(rules=changed), None)
    # A rule set stored before own posts existed: as a share.
    doc = {**RuleSet(daily_cap=90).to_doc(), "created_at": datetime.now(UTC)}
    del doc["own_post_points"], doc["version"]
    await h.db["rule_sets"].insert_one({"_id": 9, **doc})
    current = await servicer.GetRuleSet(rewards_pb2.GetRuleSetRequest(), None)
    assert current.version == 9 and current.daily_cap == 90 and not current.HasField("own_post_points")


async def test_catalogue_redemption_statuses_and_balance(api):
    servicer, h = api
    await h.award("e1", "share", 40, "2026-11-02")
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
    await h.award("e2", "share", 30, "2026-11-03")  # the balance (40) covers the mug: only the stock is out
    with pytest.raises(FailedPrecondition, match="out of stock"):
        await servicer.Redeem(rewards_pb2.RedeemRequest(advocate_id="aino", item_id="mug", idempotency_key="k2"), None)
    await servicer.UpsertCatalogItem(rewards_pb2.UpsertCatalogItemRequest(item=item), None)  # restock 1
    hoodie = rewards_pb2.CatalogItem(item_id="hoodie", name="Hoodie", cost=100, stock=5)
    await servicer.UpsertCatalogItem(rewards_pb2.UpsertCatalogItemRequest(item=hoodie), None)
    with pytest.raises(FailedPrecondition, match="balance"):
        await servicer.Redeem(
            rewards_pb2.RedeemRequest(advocate_id="aino", item_id="hoodie", idempotency_key="k3"), None
        )
    with pytest.raises(FailedPrecondition, match="balance"):  # a retry is told the same
        await servicer.Redeem(
            rewards_pb2.RedeemRequest(advocate_id="aino", item_id="hoodie", idempotency_key="k3"), None
        )
    listed = await servicer.ListCatalog(rewards_pb2.ListCatalogRequest(), None)
    # A refused debit claims no unit.
    assert [(i.item_id, i.stock) for i in listed.items] == [("hoodie", 5), ("mug", 1)]
    balance = await servicer.GetBalance(rewards_pb2.GetBalanceRequest(advocate_id="aino"), None)
    assert (balance.points, balance.ledger_points, balance.entries) == (40, 0, 0)  # the account alone
    request = rewards_pb2.GetBalanceRequest(advocate_id="aino", with_ledger_check=True)
    balance = await servicer.GetBalance(request, None)
    assert (balance.points, balance.ledger_points, balance.entries) == (40, 40, 3)


async def test_a_redemption_decided_by_a_run_that_crashed_before_its_state_was_durable_is_decided_the_same(api):
    servicer, h = api
    await h.award("e1", "share", 50, "2026-11-02")
    item = rewards_pb2.CatalogItem(item_id="mug", name="Mug", cost=20, stock=3)
    await servicer.UpsertCatalogItem(rewards_pb2.UpsertCatalogItemRequest(item=item), None)
    h.fail_changelog = True  # the stock unit is claimed; the state is lost, and nothing went out
    request = RedemptionRequest("redeem-aino-x", "r1", "mug", 20)
    await h.send("aino", request)
    assert [repr(e) for e in await h.settle()] == [repr(RuntimeError("crash before the state was durable"))]
    assert h.states["aino"]["redeemed"] == 0 and await h.outcomes.get("redeem-aino-x") is None
    h.fail_changelog = False
    h.offset -= 1  # the same request delivered again: evaluated again from the prefix state
    await h.send("aino", request)
    assert await h.settle() == [None]
    got = await servicer.Redeem(rewards_pb2.RedeemRequest(advocate_id="aino", item_id="mug", idempotency_key="x"), None)
    assert not got.created and got.balance == 30
    assert h.states["aino"]["redeemed"] == 20 and (await h.catalog.get("mug"))["stock"] == 2  # one unit, once
    assert (await h.ledger.balance("aino"))[0] == 30


async def test_badges_and_board_validation(api):
    servicer, h = api
    today = datetime.now(UTC).date()
    for d in range(1, 11):
        await h.award(f"s{d}", "share", 10, f"2026-10-{d:02d}", leader=True)
    await h.award("c1", "click", 200, today.isoformat(), units=100)
    badges = await servicer.GetBadges(rewards_pb2.GetBadgesRequest(advocate_id="aino"), None)
    assert "ready-to-share" not in badges.badges
    await h.award("l1", "lesson", 20, today.isoformat())
    badges = await servicer.GetBadges(rewards_pb2.GetBadgesRequest(advocate_id="aino"), None)
    assert badges.earned[-1].kind == rewards_pb2.BADGE_KIND_LESSONS_COMPLETED and badges.earned[-1].threshold == 1
    assert set(badges.badges) == {
        "ready-to-share",
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
    assert [(r.rank, r.key, r.points) for r in board.rows] == [(1, "aino", 320)]  # the lesson's 20 too


async def test_badge_rules_changed_through_put_rule_set_change_get_badges(api):
    servicer, h = api
    for d in range(1, 13):  # 12 shares on 12 days in a row
        await h.award(f"s{d}", "share", 10, f"2026-10-{d:02d}")
    request = rewards_pb2.GetBadgesRequest(advocate_id="aino")
    before = await servicer.GetBadges(request, None)
    # (The shares are of a past month: no monthly rank.)
    assert list(before.badges) == ["first_share", "ten_shares", "seven_day_streak"]
    assert before.rule_set_version == 1 and before.earned[1].name == "10 shares" and before.earned[1].threshold == 10
    rules = await servicer.GetRuleSet(rewards_pb2.GetRuleSetRequest(), None)
    assert [b.badge_id for b in rules.badges][:2] == ["first_share", "ten_shares"] and len(rules.badges) == 7
    rules.badges[1].threshold = 20  # ten_shares now takes 20
    rules.badges.add(
        badge_id="twelve_days", name="12-day streak", kind=rewards_pb2.BADGE_KIND_STREAK_DAYS, threshold=12
    )
    stored = await servicer.PutRuleSet(rewards_pb2.PutRuleSetRequest(rules=rules), None)
    assert stored.version == 2 and stored.badges[1].threshold == 20 and stored.badges[7].badge_id == "twelve_days"
    after = await servicer.GetBadges(request, None)
    assert "ten_shares" not in after.badges and "twelve_days" in after.badges and after.rule_set_version == 2
    assert [(b.badge_id, b.kind, b.threshold) for b in after.earned if b.badge_id == "twelve_days"] == [
        ("twelve_days", rewards_pb2.BADGE_KIND_STREAK_DAYS, 12)
    ]
    # An advocate reaching the new threshold earns the badge again.
    for d in range(13, 21):
        await h.award(f"s{d}", "share", 10, f"2026-10-{d:02d}")
    assert "ten_shares" in (await servicer.GetBadges(request, None)).badges


async def test_put_rule_set_refuses_bad_badges_and_an_empty_list_means_the_defaults(api):
    servicer, _ = api
    rules = await servicer.GetRuleSet(rewards_pb2.GetRuleSetRequest(), None)
    bad = rewards_pb2.RuleSet()
    for change, message in [
        (lambda r: setattr(r.badges[2], "badge_id", "first_share"), r"rules\.badges\[2\]\.badge_id: 'first_share'"),
        (lambda r: setattr(r.badges[0], "name", ""), r"rules\.badges\[0\]\.name"),
        (lambda r: setattr(r.badges[3], "kind", rewards_pb2.BADGE_KIND_UNSPECIFIED), r"rules\.badges\[3\]\.kind"),
        (lambda r: setattr(r.badges[3], "kind", 99), r"rules\.badges\[3\]\.kind: must be one of BADGE_KIND_SHARES"),
        (lambda r: setattr(r.badges[1], "threshold", 0), r"rules\.badges\[1\]\.threshold"),
        (lambda r: setattr(r.badges[4], "threshold", 501), r"rules\.badges\[4\]\.threshold: must be 1\.\.500"),
    ]:
        bad.CopyFrom(rules)
        change(bad)
        with pytest.raises(InvalidArgument, match=message):
            await servicer.PutRuleSet(rewards_pb2.PutRuleSetRequest(rules=bad), None)
    assert (await servicer.GetRuleSet(rewards_pb2.GetRuleSetRequest(), None)).version == 1  # nothing stored
    # A client that does not know the field (no badges) keeps the default badges, stored explicitly.
    old_client = rewards_pb2.RuleSet()
    old_client.CopyFrom(rules)
    del old_client.badges[:]
    old_client.daily_cap = 250
    stored = await servicer.PutRuleSet(rewards_pb2.PutRuleSetRequest(rules=old_client), None)
    assert stored.daily_cap == 250 and [b.badge_id for b in stored.badges] == [b.badge_id for b in rules.badges]


async def test_a_rule_set_stored_before_badges_were_data_means_the_default_badges(api):
    servicer, h = api
    doc = {**RuleSet(daily_cap=150).to_doc(), "created_at": datetime.now(UTC)}
    del doc["badges"], doc["version"]
    await h.db["rule_sets"].insert_one({"_id": 7, **doc})
    current = await servicer.GetRuleSet(rewards_pb2.GetRuleSetRequest(), None)
    assert current.version == 7 and current.daily_cap == 150
    assert [(b.badge_id, b.threshold) for b in current.badges] == [(b.badge_id, b.threshold) for b in DEFAULT_BADGES]
    await h.award("s1", "share", 10, "2026-10-01")
    got = await servicer.GetBadges(rewards_pb2.GetBadgesRequest(advocate_id="aino"), None)
    assert got.rule_set_version == 7 and got.badges[0] == "first_share" and got.earned[0].name == "First share"


async def test_cached_boards_follow_the_ledger_within_their_ttl_and_balances_stay_exact(api):
    _, h = api
    servicer = h.servicer(ReadCache(ttl=0.5, max_stale=30))
    request = rewards_pb2.GetLeaderboardRequest(board=rewards_pb2.BOARD_GLOBAL, period=rewards_pb2.PERIOD_ALL_TIME)

    async def board() -> list[tuple[str, int]]:
        return [(r.key, r.points) for r in (await servicer.GetLeaderboard(request, None)).rows]

    await h.award("e1", "share", 40, "2026-11-02")
    assert await board() == [("aino", 40)]
    await h.award("e2", "share", 25, "2026-11-03")
    # Within the ttl the board is the one computed before; the balance is read from the account at once.
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
