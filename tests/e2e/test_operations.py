"""What a platform engineer relies on: metrics that move when events flow, and health that
follows the database (readiness NOT_SERVING while it is down, APIs answering UNAVAILABLE fast,
everything back once it returns)."""

from __future__ import annotations

import http.client
import re
import time
import urllib.parse
import urllib.request

import grpc
import pytest
from advocacy.common.v1.common_pb2 import Network
from advocacy.rewards.v1 import rewards_pb2
from advocacy.share.v1 import share_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from infra import stack as local_stack
from services.platform.supervisor import grpc_service_name
from tests.e2e.test_walking_skeleton import enroll, eventually, publish_item


def metric(platform, service: str, name: str, **labels: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{platform.ports[service].metrics}/metrics", timeout=5).read()
    total = 0.0
    for line in text.decode().splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            total += float(match.group(2))
    return total


def health(platform, service: str, name: str) -> int:
    with grpc.insecure_channel(platform.address(service)) as channel:
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=name), timeout=3).status


def test_event_metrics_move_when_a_share_flows(platform, clients):
    before = {
        "produced": metric(platform, "share", "advocacy_events_produced_total", topic="share-made"),
        "rewards": metric(platform, "rewards", "advocacy_events_consumed_total", topic="share-made"),
        "analytics": metric(platform, "analytics", "advocacy_events_consumed_total", topic="share-made"),
        "calls": metric(
            platform, "share", "advocacy_grpc_server_handled_total", grpc_method="RecordShare", grpc_code="OK"
        ),
    }
    item = publish_item(clients)
    advocate_id = enroll(clients)
    clients.share.RecordShare(
        share_pb2.RecordShareRequest(
            content_id=item.content_id, advocate_id=advocate_id, network=Network.NETWORK_LINKEDIN
        )
    )
    assert eventually(
        lambda: metric(platform, "share", "advocacy_events_produced_total", topic="share-made") > before["produced"]
    )
    assert eventually(
        lambda: metric(platform, "rewards", "advocacy_events_consumed_total", topic="share-made") > before["rewards"]
    )
    assert eventually(
        lambda: (
            metric(platform, "analytics", "advocacy_events_consumed_total", topic="share-made") > before["analytics"]
        )
    )
    after = metric(platform, "share", "advocacy_grpc_server_handled_total", grpc_method="RecordShare", grpc_code="OK")
    assert after == before["calls"] + 1


def test_business_counters_move_shares_clicks_points_redemptions(platform, clients):
    """The counters a program dashboard is built on: new shares, counted clicks, points awarded and
    redemptions by outcome."""
    before = {
        "shares": metric(platform, "share", "advocacy_share_shares_total", network="linkedin"),
        "clicks": metric(platform, "share", "advocacy_share_link_clicks_total", outcome="counted"),
        "points": metric(platform, "rewards", "advocacy_rewards_points_awarded_total"),
        "redeemed": metric(platform, "rewards", "advocacy_rewards_redemptions_total", outcome="redeemed"),
        "out": metric(platform, "rewards", "advocacy_rewards_redemptions_total", outcome="out_of_stock"),
    }
    item = publish_item(clients)
    advocate_id = enroll(clients)
    share = clients.share.RecordShare(
        share_pb2.RecordShareRequest(
            content_id=item.content_id, advocate_id=advocate_id, network=Network.NETWORK_LINKEDIN, message="ops"
        )
    ).share
    assert metric(platform, "share", "advocacy_share_shares_total", network="linkedin") == before["shares"] + 1
    # A reader's click on the tracked link (a browser's user agent; the redirect is not followed).
    url = urllib.parse.urlsplit(share.tracked_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.request("GET", url.path, headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"})
        assert conn.getresponse().status == 302
    finally:
        conn.close()
    assert eventually(
        lambda: metric(platform, "share", "advocacy_share_link_clicks_total", outcome="counted") == before["clicks"] + 1
    )
    # The share's points (25 by the default rules) and the click's 2, counted once each.
    assert eventually(
        lambda: metric(platform, "rewards", "advocacy_rewards_points_awarded_total") >= before["points"] + 27
    )
    assert eventually(
        lambda: clients.rewards.GetBalance(rewards_pb2.GetBalanceRequest(advocate_id=advocate_id)).points >= 20
    )
    mug = rewards_pb2.CatalogItem(item_id=f"mug-{advocate_id}", name="Mug", cost=10, stock=1)
    clients.rewards.UpsertCatalogItem(rewards_pb2.UpsertCatalogItemRequest(item=mug))
    clients.rewards.Redeem(rewards_pb2.RedeemRequest(advocate_id=advocate_id, item_id=mug.item_id, idempotency_key="1"))
    with pytest.raises(grpc.RpcError):
        clients.rewards.Redeem(
            rewards_pb2.RedeemRequest(advocate_id=advocate_id, item_id=mug.item_id, idempotency_key="2")
        )
    after = {
        "redeemed": metric(platform, "rewards", "advocacy_rewards_redemptions_total", outcome="redeemed"),
        "out": metric(platform, "rewards", "advocacy_rewards_redemptions_total", outcome="out_of_stock"),
    }
    assert (after["redeemed"], after["out"]) == (before["redeemed"] + 1, before["out"] + 1)


def test_readiness_follows_the_database(platform, clients, stack):
    item = publish_item(clients)
    advocate_id = enroll(clients)
    local_stack.stop_mongo(stack)
    try:
        for service in platform.ports:
            assert eventually(
                lambda s=service: (
                    health(platform, s, grpc_service_name(s)) == health_pb2.HealthCheckResponse.NOT_SERVING
                ),
                timeout=15,
            ), f"{service} still ready with the database down"
            # Liveness stays up: Kubernetes must not restart pods because the database is away.
            assert health(platform, service, "") == health_pb2.HealthCheckResponse.SERVING
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as err:
            clients.rewards.GetBalance(rewards_pb2.GetBalanceRequest(advocate_id=advocate_id), timeout=10)
        elapsed = time.monotonic() - started
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert elapsed < 1.5, f"UNAVAILABLE took {elapsed:.2f} s"
        with pytest.raises(grpc.RpcError) as err:
            clients.share.RecordShare(
                share_pb2.RecordShareRequest(
                    content_id=item.content_id, advocate_id=advocate_id, network=Network.NETWORK_LINKEDIN
                ),
                timeout=10,
            )
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        local_stack.start_mongo(stack)
    for service in platform.ports:
        assert eventually(
            lambda s=service: health(platform, s, grpc_service_name(s)) == health_pb2.HealthCheckResponse.SERVING,
            timeout=30,
        ), f"{service} not ready again after the database returned"
    reply = clients.share.RecordShare(
        share_pb2.RecordShareRequest(
            content_id=item.content_id, advocate_id=advocate_id, network=Network.NETWORK_LINKEDIN
        )
    )
    assert reply.created
