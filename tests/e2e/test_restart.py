"""Stopping and restarting everything (services and servers) keeps the data: a share recorded
before the restart is still counted after it, and the pipeline goes on from there."""

from __future__ import annotations

import re
import time
import urllib.request

from advocacy.analytics.v1 import analytics_pb2
from advocacy.common.v1.common_pb2 import Network
from advocacy.rewards.v1 import rewards_pb2
from advocacy.share.v1 import share_pb2

from infra import stack as local_stack
from tests.conftest import make_isolated
from tests.e2e.conftest import connect, make_platform
from tests.e2e.test_walking_skeleton import enroll, eventually, publish_item


def test_data_survives_a_full_restart(stack):
    platform = make_platform(make_isolated(stack))
    clients = None
    try:
        platform.start()
        clients = connect(platform)
        item = publish_item(clients)
        advocate_id = enroll(clients, audience=500)
        share = share_pb2.RecordShareRequest(
            content_id=item.content_id,
            advocate_id=advocate_id,
            network=Network.NETWORK_LINKEDIN,
            message="Proud of this!",
            idempotency_key="before-restart",
        )
        clients.share.RecordShare(share)
        # share 10 + first share 5 + early sharer 5 (a copied suggested text earns no wording bonus)
        eventually(
            lambda: clients.rewards.GetBalance(rewards_pb2.GetBalanceRequest(advocate_id=advocate_id)).points == 20
        )
    finally:
        if clients is not None:
            clients.close()
        codes = platform.stop()  # also when the start failed: no service may outlive the test
    assert codes == {"content": 0, "share": 0, "rewards": 0, "analytics": 0, "notify": 0}  # SIGTERM: clean exit

    local_stack.stop(stack)
    local_stack.start(stack)
    time.sleep(0.5)

    clients = None
    try:
        platform.start()
        clients = connect(platform)
        balance = clients.rewards.GetBalance(rewards_pb2.GetBalanceRequest(advocate_id=advocate_id))
        assert balance.points == 20
        # The same idempotency key after the restart is still the same share.
        assert not clients.share.RecordShare(share).created
        clients.share.RecordShare(
            share_pb2.RecordShareRequest(
                content_id=item.content_id,
                advocate_id=advocate_id,
                network=Network.NETWORK_LINKEDIN,
                message="Second time, my words",
                idempotency_key="after-restart",
            )
        )
        stats = eventually(
            lambda: (
                (
                    s := clients.analytics.GetContentStats(
                        analytics_pb2.GetContentStatsRequest(content_id=item.content_id)
                    )
                ).shares
                == 2
                and s
            )
        )
        # The same item to the same network again reaches the same people: a share, not reach.
        assert stats.potential_reach == 500
        assert eventually(
            # The same item on the same network again within 24 h: recorded, worth 0.
            lambda: len(clients.rewards.ListLedger(rewards_pb2.ListLedgerRequest(advocate_id=advocate_id)).entries) == 4
        )
        assert clients.rewards.GetBalance(rewards_pb2.GetBalanceRequest(advocate_id=advocate_id)).points == 20
        # Lag is what a group has not committed: none once all is processed, also on partitions
        # with nothing new since the restart (advocate-changed); the tables' changelogs are not lag.
        caught_up = {}
        for service in ("rewards", "analytics"):
            lags = eventually(lambda s=service: (lag := consumer_lag(platform, s)) and not any(lag.values()) and lag)
            assert lags and not any(lags.values()), (service, consumer_lag(platform, service))
            assert not [topic for topic, _ in lags if topic.endswith("-changelog")], (service, lags)
            caught_up[service] = lags
        assert any(topic == "advocate-changed" for topic, _ in caught_up["analytics"]), caught_up["analytics"]
    finally:
        if clients is not None:
            clients.close()
        platform.stop()


def consumer_lag(platform, service: str) -> dict[tuple[str, str], float]:
    """(topic, partition) -> the worker's reported consumer lag."""
    url = f"http://127.0.0.1:{platform.ports[service].metrics}/metrics"
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    lags = {}
    for labels, value in re.findall(r"^advocacy_consumer_lag_messages\{(.*)\} (\S+)$", text, re.M):
        label = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        lags[(label["topic"], label["partition"])] = float(value)
    return lags
