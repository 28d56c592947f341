"""Redemptions under concurrency, through the real path: 50 concurrent `Redeem` calls over gRPC for
one advocate, spread over two rewards replicas (real processes sharing the consumer group), never
overdraw and debit exactly what succeeded; the account, the ledger and the stock agree."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.rewards.v1 import rewards_pb2, rewards_pb2_grpc
from advocacy.share.v1.share_pb2 import Share, ShareMade
from pymongo import MongoClient

from bench.stream import produce
from services.common.events import to_timestamp
from services.common.topics import SHARE_MADE
from services.platform.supervisor import Platform, ServicePorts
from tests.conftest import PORT_OFFSET, ROOT, make_isolated

SHARES = 20  # every other day: 15 points each (share + first share), no streak, never capped
COST = 40
CALLS = 50


def shares(advocate: str) -> list[tuple[str, bytes, ShareMade]]:
    snapshot = AdvocateSnapshot(advocate_id=advocate, display_name="Aino A", team="sales", timezone="UTC")
    start = datetime(2026, 10, 1, 9, tzinfo=UTC)
    return [
        (
            SHARE_MADE.name,
            advocate.encode(),
            ShareMade(
                event_id=f"sh-{n}",
                occurred_at=to_timestamp(start + timedelta(days=2 * n)),
                share=Share(share_id=f"s{n}", content_id=f"c{n}", advocate_id=advocate, network=Network.NETWORK_X),
                advocate=snapshot,
            ),
        )
        for n in range(SHARES)
    ]


def replica(isolated, n: int) -> Platform:
    env = {
        **isolated.env,
        "ADVOCACY_STATE_DIR": str(ROOT / ".local" / "test" / "faust" / isolated.prefix / f"replica{n}"),
        "ADVOCACY_BROKER_SESSION_TIMEOUT_SECONDS": "6",
        "ADVOCACY_BROKER_HEARTBEAT_INTERVAL_SECONDS": "1",
        "ADVOCACY_SHUTDOWN_GRACE_SECONDS": "3",
    }
    return Platform(
        env=env,
        log_dir=ROOT / ".local" / "test" / "logs" / isolated.prefix / f"replica{n}",
        ports={"rewards": ServicePorts(grpc=23055 + n + PORT_OFFSET, metrics=19162 + n + PORT_OFFSET)},
    )


async def redeem_concurrently(replicas: list[Platform]) -> Counter[str]:
    channels = [r.aio_channel("rewards") for r in replicas]
    stubs = [rewards_pb2_grpc.RewardsServiceStub(c) for c in channels]

    async def call(i: int) -> str:
        request = rewards_pb2.RedeemRequest(advocate_id="aino", item_id="mug", idempotency_key=f"k{i}")
        try:
            reply = await stubs[i % 2].Redeem(request, timeout=60)
            assert reply.created and reply.entry.points == -COST and reply.balance >= 0
            return "redeemed"
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION and "balance" in exc.details(), exc
            return "refused"

    try:
        return Counter(await asyncio.gather(*(call(i) for i in range(CALLS))))
    finally:
        for c in channels:
            await c.close()


def balance_everywhere(replicas: list[Platform]) -> set[int]:
    got = set()
    for r in replicas:
        with r.channel("rewards") as ch:
            stub = rewards_pb2_grpc.RewardsServiceStub(ch)
            got.add(stub.GetBalance(rewards_pb2.GetBalanceRequest(advocate_id="aino"), timeout=10).points)
    return got


@pytest.mark.timeout(600)
def test_concurrent_redemptions_over_two_replicas_never_overdraw(stack):
    isolated = make_isolated(stack)
    replicas = [replica(isolated, n) for n in range(2)]
    try:
        for r in replicas:
            r.start_service("rewards")
        for r in replicas:
            r.wait_serving("rewards", 180)
        asyncio.run(produce(stack.kafka_bootstrap, isolated.prefix, shares("aino")))
        earned = SHARES * 15
        deadline = time.monotonic() + 120
        while (got := balance_everywhere(replicas)) != {earned}:
            if time.monotonic() > deadline:
                with MongoClient(stack.mongo_url) as mongo:
                    db = mongo[isolated.database]
                    found = db["ledger"].count_documents({})
                raise AssertionError(f"the shares' points never arrived: {got} {found}")
            time.sleep(0.2)
        with replicas[0].channel("rewards") as ch:
            item = rewards_pb2.CatalogItem(item_id="mug", name="Mug", cost=COST, stock=100)
            rewards_pb2_grpc.RewardsServiceStub(ch).UpsertCatalogItem(
                rewards_pb2.UpsertCatalogItemRequest(item=item), timeout=10
            )

        outcomes = asyncio.run(redeem_concurrently(replicas))
        affordable = earned // COST
        assert outcomes == Counter(redeemed=affordable, refused=CALLS - affordable)
        assert balance_everywhere(replicas) == {earned - affordable * COST}
        with replicas[1].channel("rewards") as ch:
            stub = rewards_pb2_grpc.RewardsServiceStub(ch)
            assert stub.ListCatalog(rewards_pb2.ListCatalogRequest(), timeout=10).items[0].stock == 100 - affordable
        # The ledger sink holds exactly the successful debits, once each.
        deadline = time.monotonic() + 60
        while True:
            with MongoClient(stack.mongo_url) as mongo:
                entries = list(mongo[isolated.database]["ledger"].find({"advocate_id": "aino"}))
            debits = [e for e in entries if e["rule"] == "redemption"]
            if len(debits) >= affordable or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert sorted(e["points"] for e in debits) == [-COST] * affordable
        assert sum(e["points"] for e in entries) == earned - affordable * COST
    finally:
        for r in replicas:
            r.stop()
