"""The whole platform as processes on the test stack, used the way an internal app uses it."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from advocacy.analytics.v1 import analytics_pb2_grpc
from advocacy.content.v1 import content_pb2_grpc
from advocacy.rewards.v1 import rewards_pb2_grpc
from advocacy.share.v1 import share_pb2_grpc

from services.platform.supervisor import Platform, default_ports
from tests.conftest import PORT_OFFSET, ROOT, Isolated, make_isolated

SHARE_HTTP_PORT = 19180 + PORT_OFFSET


@dataclass
class Clients:
    content: content_pb2_grpc.ContentServiceStub
    share: share_pb2_grpc.ShareServiceStub
    rewards: rewards_pb2_grpc.RewardsServiceStub
    analytics: analytics_pb2_grpc.AnalyticsServiceStub
    channels: list[grpc.Channel]

    def close(self) -> None:
        for channel in self.channels:
            channel.close()


def connect(platform: Platform) -> Clients:
    channels = {name: grpc.insecure_channel(platform.address(name)) for name in platform.ports}
    return Clients(
        content=content_pb2_grpc.ContentServiceStub(channels["content"]),
        share=share_pb2_grpc.ShareServiceStub(channels["share"]),
        rewards=rewards_pb2_grpc.RewardsServiceStub(channels["rewards"]),
        analytics=analytics_pb2_grpc.AnalyticsServiceStub(channels["analytics"]),
        channels=list(channels.values()),
    )


def make_platform(isolated: Isolated) -> Platform:
    env = {
        **isolated.env,
        "ADVOCACY_STATE_DIR": str(ROOT / ".local" / "test" / "faust" / isolated.prefix),
        # A stopped worker's partitions move on quickly in tests.
        "ADVOCACY_BROKER_SESSION_TIMEOUT_SECONDS": "10",
        "ADVOCACY_SHUTDOWN_GRACE_SECONDS": "5",
        # The share service's tracked-link HTTP port, shifted like every other test port.
        "ADVOCACY_HTTP_PORT": str(SHARE_HTTP_PORT),
        "ADVOCACY_PUBLIC_BASE_URL": f"http://127.0.0.1:{SHARE_HTTP_PORT}",
    }
    return Platform(
        env=env,
        log_dir=ROOT / ".local" / "test" / "logs" / isolated.prefix,
        ports=default_ports(base_grpc=51051 + PORT_OFFSET, base_metrics=19101 + PORT_OFFSET),
    )


@pytest.fixture(scope="module")
def platform(stack) -> Iterator[Platform]:
    platform = make_platform(make_isolated(stack))
    platform.start()
    for crash in platform.startup_crashes:  # restarted and then ready; shown in the run's summary
        warnings.warn(f"a service crashed while starting: {crash}", stacklevel=1)
    yield platform
    platform.stop()


@pytest.fixture(scope="module")
def clients(platform: Platform) -> Iterator[Clients]:
    clients = connect(platform)
    yield clients
    clients.close()
