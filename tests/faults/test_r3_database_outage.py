"""R3: the database stops. Every API answers UNAVAILABLE within 1 s instead of hanging, readiness
turns NOT_SERVING (liveness stays SERVING: a database outage must not restart pods), and once the
database returns everything acknowledged before the outage is still there and on `share-made`."""

from __future__ import annotations

import time

import grpc
import pytest
from advocacy.analytics.v1 import analytics_pb2
from advocacy.common.v1.common_pb2 import Network
from advocacy.content.v1 import content_pb2
from advocacy.rewards.v1 import rewards_pb2
from advocacy.share.v1 import share_pb2
from advocacy.share.v1.share_pb2 import ShareMade
from grpc_health.v1 import health_pb2

from infra import stack as local_stack
from services.platform.supervisor import grpc_service_name
from tests.e2e.test_operations import health
from tests.e2e.test_walking_skeleton import enroll, eventually, publish_item
from tests.faults.helpers import read_topic
from tests.integration.test_rewards_stream import run_history

ATTEMPTS = 3  # calls per RPC once the outage was noticed
LIMIT_SECONDS = 1.0


def calls(clients, content_id: str, advocate_id: str) -> dict[str, object]:
    """One call per API that needs the database, named service/method. (GetBalance is not one: it
    reads the account view the replica follows from Kafka, so it may answer before the outage is
    noticed.)"""
    return {
        "content/GetContent": lambda t: clients.content.GetContent(
            content_pb2.GetContentRequest(content_id=content_id), timeout=t
        ),
        "content/ListContent": lambda t: clients.content.ListContent(content_pb2.ListContentRequest(), timeout=t),
        "share/GetAdvocate": lambda t: clients.share.GetAdvocate(
            share_pb2.GetAdvocateRequest(advocate_id=advocate_id), timeout=t
        ),
        "share/RecordShare": lambda t: clients.share.RecordShare(
            share_pb2.RecordShareRequest(
                content_id=content_id, advocate_id=advocate_id, network=Network.NETWORK_LINKEDIN, message="outage"
            ),
            timeout=t,
        ),
        "share/ListSharesByAdvocate": lambda t: clients.share.ListSharesByAdvocate(
            share_pb2.ListSharesByAdvocateRequest(advocate_id=advocate_id), timeout=t
        ),
        "rewards/ListLedger": lambda t: clients.rewards.ListLedger(
            rewards_pb2.ListLedgerRequest(advocate_id=advocate_id), timeout=t
        ),
        "analytics/GetContentStats": lambda t: clients.analytics.GetContentStats(
            analytics_pb2.GetContentStatsRequest(content_id=content_id), timeout=t
        ),
    }


@pytest.mark.timeout(600)  # the shared platform may start within this test
def test_r3_apis_answer_unavailable_fast_and_nothing_acknowledged_is_lost(
    fault_stack, fault_platform_running, fault_clients, figures
):
    platform, clients = fault_platform_running, fault_clients
    item = publish_item(clients)
    advocates = [enroll(clients) for _ in range(5)]
    acknowledged: set[str] = set()
    for n in range(25):
        reply = clients.share.RecordShare(
            share_pb2.RecordShareRequest(
                content_id=item.content_id,
                advocate_id=advocates[n % len(advocates)],
                network=Network.NETWORK_LINKEDIN,
                message=f"before the outage {n}",
                idempotency_key=f"r3-{n}",
            )
        )
        acknowledged.add(reply.share.share_id)

    rpcs = calls(clients, item.content_id, advocates[0])
    timings: dict[str, list[tuple[str, float]]] = {}

    def call_each_once() -> None:
        for name, call in rpcs.items():
            started = time.monotonic()
            try:
                call(10.0)  # a generous client deadline: the server must answer on its own
                code = "OK"
            except grpc.RpcError as err:
                code = err.code().name
            timings.setdefault(name, []).append((code, time.monotonic() - started))

    local_stack.stop_mongo(fault_stack)
    stopped = time.monotonic()
    try:
        # At once, before the services' database watchers (1 s period) noticed: each call finds
        # out by itself (PyMongo's server selection timeout).
        call_each_once()
        flipped: dict[str, float] = {}
        for service in platform.ports:
            ok = eventually(
                lambda s=service: (
                    health(platform, s, grpc_service_name(s)) == health_pb2.HealthCheckResponse.NOT_SERVING
                ),
                timeout=15,
            )
            assert ok, f"{service} still ready with the database down"
            flipped[service] = time.monotonic() - stopped
            assert health(platform, service, "") == health_pb2.HealthCheckResponse.SERVING  # liveness
        for _ in range(ATTEMPTS):  # once noticed: refused without trying the database
            call_each_once()
    finally:
        local_stack.start_mongo(fault_stack)
        restarted = time.monotonic()
    for service in platform.ports:
        assert eventually(
            lambda s=service: health(platform, s, grpc_service_name(s)) == health_pb2.HealthCheckResponse.SERVING,
            timeout=30,
        ), f"{service} not ready again after the database returned"
    ready_again = time.monotonic() - restarted

    # Nothing acknowledged before the outage is missing: in the share API and on the topic.
    stored: set[str] = set()
    for advocate_id in advocates:
        reply = clients.share.ListSharesByAdvocate(
            share_pb2.ListSharesByAdvocateRequest(advocate_id=advocate_id, page_size=500)
        )
        stored |= {s.share_id for s in reply.shares}
    bootstrap = platform.env["ADVOCACY_KAFKA_BOOTSTRAP"]
    topic = platform.env["ADVOCACY_TOPIC_PREFIX"] + "share-made"
    on_topic = {
        e.share.share_id for _, e in read_topic(bootstrap, topic, ShareMade, acknowledged, lambda e: e.share.share_id)
    }
    after = clients.share.RecordShare(
        share_pb2.RecordShareRequest(
            content_id=item.content_id, advocate_id=advocates[0], network=Network.NETWORK_LINKEDIN, message="after"
        )
    )

    for name, results in timings.items():
        first, *noticed = results
        figures(
            f"{name}: before the outage was noticed {first[0]} in {first[1] * 1000:.0f} ms; after: "
            + ", ".join(f"{code} in {seconds * 1000:.0f} ms" for code, seconds in noticed)
        )
    figures(
        "NOT_SERVING after "
        + ", ".join(f"{s} {t:.1f}s" for s, t in flipped.items())
        + f"; all SERVING {ready_again:.1f}s after the database returned"
    )
    figures(
        f"acknowledged before the outage={len(acknowledged)} stored after={len(acknowledged & stored)} "
        f"on share-made={len(acknowledged & on_topic)}"
    )
    slow = {n: r for n, r in timings.items() if any(code != "UNAVAILABLE" or t >= LIMIT_SECONDS for code, t in r)}
    assert not slow, f"not UNAVAILABLE within {LIMIT_SECONDS} s: {slow}"
    assert acknowledged <= stored and acknowledged <= on_topic
    assert after.created


@pytest.mark.timeout(900)
def test_stream_workers_lose_nothing_while_the_database_is_down(fault_stack, figures):
    """The rewards and analytics workers meet the outage mid-batch: the batch must be retried,
    never acknowledged half done (Faust acknowledges a failed batch unless the agent keeps it)."""
    result = run_history(fault_stack, total=3000, kills=0, services=("rewards", "analytics"), database_outage_seconds=8)
    figures(
        f"workers: {result['events']:.0f} events, database down 8 s mid-stream, "
        f"ledger, balances, boards and analytics equal the references; {result['seconds']}s"
    )
