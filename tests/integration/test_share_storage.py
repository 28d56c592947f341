"""The share service's storage on the real FerretDB: every hot path is an `_id` read or write,
and the guarantees stay (one share per idempotency key under concurrent retries, exact latest
versions with stale or missing heads, idempotent engagement records, old-shape data usable)."""

from __future__ import annotations

import asyncio
import uuid

from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.share.v1.share_pb2 import Advocate, Share
from pymongo import ASCENDING, AsyncMongoClient

from services.common.events import to_timestamp, utcnow
from services.common.outbox import OutboxEvent
from services.share.adapters.advocates import AdvocateRepository
from services.share.adapters.engagement import EngagementRepository
from services.share.adapters.repository import ShareRepository
from services.share.app.ports import EngagementRecord
from services.share.domain.sharing import share_id_for


def event(n: int | str) -> OutboxEvent:
    return OutboxEvent(event_id=f"e{n}", topic="t", key="k", value=b"v")


def share(advocate_id: str, key: str, message: str = "hello") -> Share:
    share_id = share_id_for(advocate_id, key)
    return Share(
        share_id=share_id,
        content_id="c1",
        advocate_id=advocate_id,
        network=Network.NETWORK_LINKEDIN,
        message=message,
        tracked_code=share_id,
        idempotency_key=key,
        shared_at=to_timestamp(utcnow()),
        target_url="https://example.com/x",
    )


async def test_concurrent_retries_with_one_key_store_one_share_and_all_get_it(isolated):
    mongo = AsyncMongoClient(isolated.stack.mongo_url, tz_aware=True)
    repo = ShareRepository(mongo[isolated.database])
    await repo.ensure_indexes()
    assert await repo.migrate() == 0
    try:
        # Twelve retries racing, each with its own (different) message and event: one write wins.
        attempts = [share("aino", "k-1", message=f"try {i}") for i in range(12)]
        results = await asyncio.gather(
            *(repo.insert(s, AdvocateSnapshot(advocate_id="aino"), "", [event(i)]) for i, s in enumerate(attempts))
        )
        written = [outbox for _, outbox in results if outbox is not None]
        assert len(written) == 1
        winner = {stored.message for stored, _ in results}
        assert len(winner) == 1  # every caller got the same stored share
        assert await repo.collection.count_documents({}) == 1
        stored = await repo.get(share_id_for("aino", "k-1"))
        assert stored is not None and stored.message in winner
        # The tracked code and the share id find the same share.
        assert (await repo.by_code(stored.tracked_code)).share_id == stored.share_id  # type: ignore[union-attr]
        # Another advocate with the same key is another share.
        _, outbox = await repo.insert(share("eero", "k-1"), AdvocateSnapshot(advocate_id="eero"), "", [event("x")])
        assert outbox is not None
    finally:
        await mongo.close()


async def test_old_shape_shares_stay_reachable_after_the_migration(isolated):
    """A database from before: random `_id`, a 12-character tracked code, uniqueness by secondary
    indexes. After `migrate`, a retry with the old key, the old code and the old id all find it."""
    mongo = AsyncMongoClient(isolated.stack.mongo_url, tz_aware=True)
    db = mongo[isolated.database]
    old_id, old_code = uuid.uuid4().hex, "AbCdEfGhIjKl"
    old = Share(share_id=old_id, advocate_id="aino", content_id="c1", tracked_code=old_code, idempotency_key="tour-1")
    await db["shares"].create_index(
        [("advocate_id", ASCENDING), ("idempotency_key", ASCENDING)], unique=True, name="idempotency"
    )
    await db["shares"].create_index([("tracked_code", ASCENDING)], unique=True, name="tracked_code")
    await db["shares"].insert_one(
        {
            "_id": old_id,
            "advocate_id": "aino",
            "idempotency_key": "tour-1",
            "content_id": "c1",
            "network": Network.NETWORK_LINKEDIN,
            "tracked_code": old_code,
            "target_url": "https://example.com/old",
            "advocate": AdvocateSnapshot(advocate_id="aino").SerializeToString(),
            "shared_at": utcnow(),
            "share": old.SerializeToString(),
        }
    )
    repo = ShareRepository(db)
    await repo.ensure_indexes()
    try:
        assert await repo.migrate() == 1
        assert await ShareRepository(db).migrate() == 1  # once per database: the marker answers
        assert (await repo.get(share_id_for("aino", "tour-1"))) == old
        assert (await repo.by_code(old_code)).share_id == old_id  # type: ignore[union-attr]
        assert (await repo.by_id(old_id)).target_url == "https://example.com/old"  # type: ignore[union-attr]
        # New shares live beside it under the new scheme.
        _, outbox = await repo.insert(share("aino", "tour-2"), AdvocateSnapshot(advocate_id="aino"), "", [event(1)])
        assert outbox is not None
        assert await repo.by_code("nope-not-a-code") is None
    finally:
        await mongo.close()


def advocate(advocate_id: str, version: int, team: str) -> Advocate:
    return Advocate(profile=AdvocateSnapshot(advocate_id=advocate_id, team=team), version=version, enrolled=True)


async def test_latest_advocate_is_exact_with_a_stale_or_missing_head(isolated):
    mongo = AsyncMongoClient(isolated.stack.mongo_url, tz_aware=True)
    db = mongo[isolated.database]
    repo = AdvocateRepository(db)
    await repo.ensure_indexes()
    try:
        assert await repo.get("aino") is None
        for v in (1, 2, 3):
            assert await repo.save(advocate("aino", v, f"team-{v}"), event(v))
        assert not await repo.save(advocate("aino", 3, "late"), event("late"))  # version 3 is taken
        assert (await repo.get("aino")).profile.team == "team-3"  # type: ignore[union-attr]
        # A writer that died between its version and the head (or lost a head race): head at 1.
        await db["advocate_heads"].replace_one(
            {"_id": "aino"}, {"n": 1, "advocate": advocate("aino", 1, "team-1").SerializeToString()}
        )
        assert (await repo.get("aino")).version == 3  # type: ignore[union-attr]
        assert (await db["advocate_heads"].find_one({"_id": "aino"}))["n"] == 3  # repaired by the read
        # Versions written before heads existed: no head at all.
        await db["advocate_heads"].delete_one({"_id": "aino"})
        assert (await repo.get("aino")).profile.team == "team-3"  # type: ignore[union-attr]
        # Concurrent changes of one version: exactly one wins, and the latest is the winner.
        won = await asyncio.gather(*(repo.save(advocate("aino", 4, f"racer-{i}"), event(f"r{i}")) for i in range(8)))
        assert sum(won) == 1
        latest = await repo.get("aino")
        assert latest is not None and latest.version == 4 and latest.profile.team == f"racer-{won.index(True)}"
    finally:
        await mongo.close()


async def test_engagement_records_are_idempotent_within_and_across_batches(isolated):
    mongo = AsyncMongoClient(isolated.stack.mongo_url, tz_aware=True)
    repo = EngagementRepository(mongo[isolated.database])
    await repo.ensure_indexes()

    def record(record_id: str, event_id: str) -> EngagementRecord:
        return EngagementRecord(record_id, "s1", event_id, [event(event_id).to_document()])

    try:
        first = await repo.insert_many([record("r1", "a"), record("r2", "b"), record("r1", "c")])
        assert first == [("a", True), ("b", True), ("a", False)]
        again = await repo.insert_many([record("r2", "d"), record("r3", "e")])
        assert again == [("b", False), ("e", True)]
        assert await repo.collection.count_documents({}) == 3
    finally:
        await mongo.close()
