"""The whole platform as processes on the test stack, used the way an internal app uses it."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from advocacy.analytics.v1 import analytics_pb2_grpc
from advocacy.content.v1 import content_pb2_grpc, training_pb2_grpc
from advocacy.rewards.v1 import rewards_pb2_grpc
from advocacy.share.v1 import share_pb2_grpc

from services.common.auth import ADMIN, authorized_channel
from services.platform.supervisor import Platform, default_ports
from tests.conftest import PORT_OFFSET, ROOT, Isolated, make_isolated

SHARE_HTTP_PORT = 19180 + PORT_OFFSET
TEST_DATA = ROOT / ".local" / "test"


@dataclass
class Clients:
    content: content_pb2_grpc.ContentServiceStub
    share: share_pb2_grpc.ShareServiceStub
    rewards: rewards_pb2_grpc.RewardsServiceStub
    analytics: analytics_pb2_grpc.AnalyticsServiceStub
    training: training_pb2_grpc.TrainingServiceStub  # served by the content process
    channels: list[grpc.Channel]

    def close(self) -> None:
        for channel in self.channels:
            channel.close()


def connect(platform: Platform, role: str = ADMIN, subject: str = "e2e-admin") -> Clients:
    """Stubs for every service that send a token of `role` for `subject` on every call (admin by
    default: it may call every RPC on behalf of anyone, as the tests' internal app does)."""
    token = platform.token(role, subject)
    channels = {name: authorized_channel(platform.address(name), token) for name in platform.ports}
    return Clients(
        content=content_pb2_grpc.ContentServiceStub(channels["content"]),
        share=share_pb2_grpc.ShareServiceStub(channels["share"]),
        rewards=rewards_pb2_grpc.RewardsServiceStub(channels["rewards"]),
        analytics=analytics_pb2_grpc.AnalyticsServiceStub(channels["analytics"]),
        training=training_pb2_grpc.TrainingServiceStub(channels["content"]),
        channels=list(channels.values()),
    )


def make_platform(isolated: Isolated, offset: int = PORT_OFFSET, data_root: Path = TEST_DATA) -> Platform:
    http_port = SHARE_HTTP_PORT - PORT_OFFSET + offset
    env = {
        **isolated.env,
        "ADVOCACY_STATE_DIR": str(data_root / "faust" / isolated.prefix),
        # A stopped worker's partitions move on quickly in tests.
        "ADVOCACY_BROKER_SESSION_TIMEOUT_SECONDS": "10",
        "ADVOCACY_SHUTDOWN_GRACE_SECONDS": "5",
        # Boards computed on every read: e2e tests compare boards before and after an action, and a
        # cached board may lag the ledger by a computation (the cache has its own unit and
        # integration tests).
        "ADVOCACY_LEADERBOARD_CACHE_SECONDS": "0",
        # Figures likewise (the stats cache is tested on its own in test_analytics_ingest.py).
        "ADVOCACY_STATS_CACHE_SECONDS": "0",
        # The share service's tracked-link HTTP port, shifted like every other test port.
        "ADVOCACY_HTTP_PORT": str(http_port),
        "ADVOCACY_PUBLIC_BASE_URL": f"http://127.0.0.1:{http_port}",
    }
    return Platform(
        env=env,
        log_dir=data_root / "logs" / isolated.prefix,
        ports=default_ports(base_grpc=24051 + offset, base_metrics=19101 + offset),
    )


def running(platform: Platform) -> Iterator[Platform]:
    """A module fixture's body: the platform started, yielded, stopped. Stopped also when it fails
    to start: a service left running would hold its ports and break every later module."""
    try:
        platform.start()
        for crash in platform.startup_crashes:  # restarted and then ready; shown in the run's summary
            warnings.warn(f"a service crashed while starting: {crash}", stacklevel=2)
        yield platform
    finally:
        platform.stop()


@pytest.fixture(scope="module")
def platform(stack) -> Iterator[Platform]:
    yield from running(make_platform(make_isolated(stack)))


@pytest.fixture(scope="module")
def clients(platform: Platform) -> Iterator[Clients]:
    clients = connect(platform)
    yield clients
    clients.close()
