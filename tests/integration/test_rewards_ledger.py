"""The ledger sink, rule sets and redemption on the real MongoDB-protocol server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from pymongo import AsyncMongoClient

from services.rewards.adapters.ledger import LedgerRepository, ledger_document
from services.rewards.adapters.store import CampaignRepository, RulesCache, RuleSetRepository
from services.rewards.app.redemption import InsufficientPoints, OutOfStock
from services.rewards.domain.rules import DEFAULT_RULES, Campaign, RuleSet
from tests.integration.rewards_harness import Harness


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


async def test_redelivered_entries_are_stored_once(db):
    ledger = LedgerRepository(db)
    await ledger.ensure_indexes()
    batch = [entry("e1", "share", 10), entry("e1", "personal_wording", 5)]
    assert await ledger.insert(batch) == 2
    assert await ledger.insert(batch) == 0  # redelivery of the same announcements
    assert await ledger.insert([entry("e1", "share", 10), entry("e2", "share", 10)]) == 1
    assert await ledger.balance("aino") == (25, 3)
    assert await ledger.balance("nobody") == (0, 0)
    # Newest first; entries of the same time by entry id, descending (a stable order for paging).
    assert [d["_id"] for d in await ledger.history("aino", 10)] == ["e2:share", "e1:share", "e1:personal_wording"]


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
    h = Harness(db)
    await h.catalog.upsert("mug", "Mug", cost=10, stock=5)
    for i in range(20):  # rich enough for 20: only the stock limits
        await h.award(f"e{i}", "share", 10, "2026-11-27")

    async def attempt(i: int) -> str:
        try:
            await h.redemptions.redeem("aino", "mug", f"k{i}")
            return "ok"
        except OutOfStock:
            return "out"

    results = await asyncio.gather(*(attempt(i) for i in range(12)))
    assert results.count("ok") == 5 and results.count("out") == 7
    assert (await h.catalog.get("mug"))["stock"] == 0
    assert h.states["aino"]["earned"] - h.states["aino"]["redeemed"] == 150
    assert (await h.ledger.balance("aino"))[0] == 150  # the ledger agrees with the account


async def test_concurrent_redemptions_never_overdraw_and_claim_no_stock_when_refused(db):
    h = Harness(db)
    await h.catalog.upsert("hoodie", "Hoodie", cost=30, stock=100)
    await h.award("e1", "share", 100, "2026-11-27")

    async def attempt(i: int) -> str:
        try:
            await h.redemptions.redeem("aino", "hoodie", f"k{i}")
            return "ok"
        except InsufficientPoints:
            return "poor"

    results = await asyncio.gather(*(attempt(i) for i in range(10)))
    assert results.count("ok") == 3  # 3 * 30 <= 100 < 4 * 30
    assert (await h.accounts.get("aino"))["redeemed"] == 90
    assert (await h.ledger.balance("aino"))[0] == 10
    assert (await h.catalog.get("hoodie"))["stock"] == 97  # refused debits claimed no unit
    # A retry with the same key is the same redemption, not a second debit.
    again = await h.redemptions.redeem("aino", "hoodie", f"k{results.index('ok')}")
    assert not again.created and again.balance in (70, 40, 10)
    assert (await h.accounts.get("aino"))["redeemed"] == 90
