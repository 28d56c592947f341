"""The ledger, wallets and redemption on the real MongoDB-protocol server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from pymongo import AsyncMongoClient

from services.rewards.adapters.ledger import LedgerRepository, ledger_document
from services.rewards.adapters.redemption import InsufficientPoints, OutOfStock, Redemptions
from services.rewards.adapters.store import (
    CampaignRepository,
    CatalogRepository,
    RulesCache,
    RuleSetRepository,
    WalletRepository,
)
from services.rewards.domain.rules import DEFAULT_RULES, Campaign, RuleSet


def entry(event_id: str, rule: str, points: int, advocate: str = "aino", day: str = "2026-11-27") -> dict:
    return ledger_document(
        source_event_id=event_id,
        rule=rule,
        advocate_id=advocate,
        points=points,
        rule_set_version=1,
        campaign_id="",
        content_id="c1",
        occurred_at=datetime(2026, 11, 27, tzinfo=UTC),
        local_day=day,
    )


@pytest.fixture
async def db(isolated):
    mongo = AsyncMongoClient(isolated.stack.mongo_url, tz_aware=True)
    yield mongo[isolated.database]
    await mongo.close()


async def test_replayed_entries_are_stored_once_and_the_stored_version_wins(db):
    ledger = LedgerRepository(db)
    await ledger.ensure_indexes()
    batch = [entry("e1", "share", 10), entry("e1", "personal_wording", 5)]
    assert await ledger.insert_count(batch) == 2
    assert await ledger.insert_count(batch) == 0  # redelivery of the same event
    # A re-evaluation that came out differently (e.g. capped) keeps what the ledger already says.
    again = await ledger.record([entry("e1", "share", 3), entry("e2", "share", 10)])
    assert [d["points"] for d in again] == [10, 10]
    assert await ledger.balance("aino") == (25, 3)
    assert await ledger.balance("nobody") == (0, 0)
    assert await ledger.day_total("aino", "2026-11-27") == 25
    assert await ledger.day_total("aino", "2026-11-28") == 0
    assert [d["_id"] for d in await ledger.by_source("e1")] == ["e1:personal_wording", "e1:share"]


async def test_wallet_credit_applies_once_per_key(db):
    wallets = WalletRepository(db)
    await wallets.ensure_indexes()
    assert await wallets.credit("aino", "e1", 15)
    assert not await wallets.credit("aino", "e1", 15)
    assert await wallets.credit("aino", "e2", 10)
    assert not await wallets.credit("aino", "e2", 10)
    assert await wallets.balance("aino") == 25


async def test_rule_sets_are_versioned_and_the_cache_sees_a_new_version(db):
    repo, campaigns = RuleSetRepository(db), CampaignRepository(db)
    cache = RulesCache(repo, campaigns, refresh_seconds=0)
    assert await cache.rules() == DEFAULT_RULES
    v2 = await repo.put(RuleSet(daily_cap=50))
    assert v2.version == 2 and (await cache.rules()).daily_cap == 50
    v3 = await repo.put(RuleSet(share_points_by_network={"NETWORK_X": 7}))
    assert v3.version == 3 and (await cache.rules()).share_points("NETWORK_X") == 7
    start = datetime(2026, 11, 1, tzinfo=UTC)
    await campaigns.upsert(Campaign("k1", start, datetime(2026, 12, 1, tzinfo=UTC), 2.0))
    got = await cache.campaign("k1")
    assert got is not None and got.factor_at(datetime(2026, 11, 5, tzinfo=UTC)) == 2.0


async def test_concurrent_redemptions_succeed_exactly_stock_times(db):
    ledger, wallets, catalog = LedgerRepository(db), WalletRepository(db), CatalogRepository(db)
    await ledger.ensure_indexes()
    await wallets.ensure_indexes()
    redemptions = Redemptions(ledger, wallets, catalog)
    await catalog.upsert("mug", "Mug", cost=10, stock=5)
    # Rich enough for 20: only the stock limits.
    for i in range(20):
        await wallets.credit("aino", f"e{i}", 10)
        await ledger.record([entry(f"e{i}", "share", 10)])

    async def attempt(i: int) -> str:
        try:
            await redemptions.redeem("aino", "mug", f"k{i}")
            return "ok"
        except OutOfStock:
            return "out"

    results = await asyncio.gather(*(attempt(i) for i in range(12)))
    assert results.count("ok") == 5 and results.count("out") == 7
    assert (await catalog.get("mug"))["stock"] == 0
    assert await wallets.balance("aino") == 150
    assert await wallets.unsettled() == []
    assert (await ledger.balance("aino"))[0] == 150  # the ledger agrees with the wallet


async def test_concurrent_redemptions_never_overdraw_and_put_stock_back(db):
    ledger, wallets, catalog = LedgerRepository(db), WalletRepository(db), CatalogRepository(db)
    await wallets.ensure_indexes()
    redemptions = Redemptions(ledger, wallets, catalog)
    await catalog.upsert("hoodie", "Hoodie", cost=30, stock=100)
    await wallets.credit("aino", "e1", 100)
    await ledger.record([entry("e1", "share", 100)])

    async def attempt(i: int) -> str:
        try:
            await redemptions.redeem("aino", "hoodie", f"k{i}")
            return "ok"
        except InsufficientPoints:
            return "poor"

    results = await asyncio.gather(*(attempt(i) for i in range(10)))
    assert results.count("ok") == 3  # 3 * 30 <= 100 < 4 * 30
    assert await wallets.balance("aino") == 10
    assert (await ledger.balance("aino"))[0] == 10
    assert (await catalog.get("hoodie"))["stock"] == 97  # failed debits gave their unit back
    # A retry with the same key is the same redemption, not a second debit.
    again = await redemptions.redeem("aino", "hoodie", "k0" if results[0] == "ok" else f"k{results.index('ok')}")
    assert not again.created and again.balance == 10
