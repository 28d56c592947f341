"""The ledger on the real MongoDB-protocol server: a replayed award is stored once."""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo import AsyncMongoClient

from services.rewards.adapters.ledger import LedgerRepository, ledger_document


def entry(event_id: str, rule: str, points: int, advocate: str = "aino") -> dict:
    return ledger_document(
        source_event_id=event_id,
        rule=rule,
        advocate_id=advocate,
        points=points,
        rule_set_version=1,
        campaign_id="",
        content_id="c1",
        occurred_at=datetime(2026, 11, 27, tzinfo=UTC),
    )


async def test_replayed_entries_are_not_counted_twice(isolated):
    mongo = AsyncMongoClient(isolated.stack.mongo_url)
    ledger = LedgerRepository(mongo[isolated.database])
    await ledger.ensure_indexes()
    batch = [entry("e1", "share", 10), entry("e1", "personal_wording", 5)]
    assert await ledger.record(batch) == 2
    assert await ledger.record(batch) == 0  # redelivery of the same event
    assert await ledger.record([entry("e1", "share", 10), entry("e2", "share", 10)]) == 1
    assert await ledger.balance("aino") == (25, 3)
    assert await ledger.balance("nobody") == (0, 0)
    await mongo.close()
