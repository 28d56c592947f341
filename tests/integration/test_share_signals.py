"""Stopping and crashing the share service with real signals while RecordShare calls are in
flight: on SIGTERM readiness turns NOT_SERVING first, calls in flight finish, the process exits 0
and every share acknowledged before exit reaches `share-made`; after a SIGKILL between the
database write and the send (Kafka down, so nothing was sent yet), the restarted process's relay
sends every acknowledged share."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Iterator

import grpc
import pytest
from advocacy.common.v1.common_pb2 import Network
from advocacy.share.v1 import share_pb2
from advocacy.share.v1.share_pb2 import ShareMade
from grpc_health.v1 import health_pb2, health_pb2_grpc

from infra import stack as local_stack
from services.platform.supervisor import Platform
from services.share.domain.sharing import share_id_for
from tests.conftest import PORT_OFFSET, Isolated, make_isolated
from tests.integration.test_share_service import Services, content_and_share, enroll, publish_item, read_events

READINESS = "advocacy.share.v1.ShareService"
GRACE_SECONDS = 10


@pytest.fixture
def platform(stack, request) -> Iterator[tuple[Platform, Isolated]]:
    # Ports of their own per test: gRPC shares a subchannel per address across channels, and the
    # previous test's, still backing off from the server it stopped, would fail new calls fast.
    step = 10 * sorted(n for n in globals() if n.startswith("test_")).index(request.node.name)
    isolated = make_isolated(stack)
    env = {
        "ADVOCACY_HTTP_PORT": str(19290 + step + PORT_OFFSET),
        "ADVOCACY_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS),
    }
    platform = content_and_share(isolated, env, 25151 + step, 20201 + step)
    try:
        yield platform, isolated
    finally:
        platform.stop()


class Load:
    """Clients recording shares back to back until stopped; keeps what was acknowledged and
    the status codes of what was not."""

    def __init__(self, svc: Services, content_id: str, advocates: list[str]) -> None:
        self.svc = svc
        self.content_id = content_id
        self.advocates = advocates
        self.acknowledged: list[str] = []
        self.answered_at: list[float] = []  # loop time of each acknowledgement
        self.failures: list[grpc.StatusCode] = []
        self.failure_details: list[str] = []
        self.refused: list[str] = []  # the share ids of the calls that failed
        self.running = True
        self._answered = asyncio.Event()

    async def until_acknowledged(self, count: int) -> None:
        while len(self.acknowledged) < count:
            self._answered.clear()
            await self._answered.wait()

    async def client(self, n: int) -> None:
        i = 0
        while self.running:
            i += 1
            request = share_pb2.RecordShareRequest(
                content_id=self.content_id,
                advocate_id=self.advocates[(n + i) % len(self.advocates)],
                network=Network.NETWORK_LINKEDIN,
                message=f"words {n}-{i}",
                idempotency_key=f"{n}-{i}-{uuid.uuid4().hex[:6]}",
            )
            try:
                reply = await self.svc.share.RecordShare(request, timeout=20)
            except grpc.aio.AioRpcError as exc:
                self.failures.append(exc.code())
                self.failure_details.append(f"{exc.code().name}: {exc.details()}")
                self.refused.append(share_id_for(request.advocate_id, request.idempotency_key))
                await asyncio.sleep(0.05)
                continue
            self.acknowledged.append(reply.share.share_id)
            self.answered_at.append(asyncio.get_running_loop().time())
            self._answered.set()


async def _prepare(svc: Services) -> tuple[str, list[str]]:
    item = await publish_item(svc)
    advocates = [await enroll(svc) for _ in range(8)]
    return item.content_id, advocates


async def _watch_readiness(svc: Services, seen: list[int]) -> None:
    stub = health_pb2_grpc.HealthStub(svc.share_channel)
    call = stub.Watch(health_pb2.HealthCheckRequest(service=READINESS))
    try:
        async for reply in call:
            seen.append(reply.status)
            if reply.status == health_pb2.HealthCheckResponse.NOT_SERVING:
                break
    except grpc.aio.AioRpcError:
        pass
    finally:
        call.cancel()  # an open stream would hold the server for the whole grace period


async def test_sigterm_under_load_finishes_calls_and_every_acknowledged_share_is_sent(platform):
    svc = Services(*platform)
    content_id, advocates = await _prepare(svc)
    load = Load(svc, content_id, advocates)
    readiness: list[int] = []
    watcher = asyncio.create_task(_watch_readiness(svc, readiness))
    clients = [asyncio.create_task(load.client(n)) for n in range(16)]
    try:
        await load.until_acknowledged(50)
        # Past the first answers, which can come in one burst (calls held until the service's views
        # caught up) with the next calls not yet started: under steady load calls are in flight all
        # the time.
        await asyncio.sleep(0.5)
        signalled_at = asyncio.get_running_loop().time()
        code = await asyncio.to_thread(svc.platform.stop_service, "share", signal.SIGTERM)
        stop_seconds = asyncio.get_running_loop().time() - signalled_at
    finally:
        load.running = False
        await asyncio.gather(*clients)
    await asyncio.wait_for(watcher, timeout=10)
    await svc.share_channel.close()
    await svc.content_channel.close()

    assert code == 0
    assert readiness[0] == health_pb2.HealthCheckResponse.SERVING
    assert health_pb2.HealthCheckResponse.NOT_SERVING in readiness  # readiness turned first
    assert any(at > signalled_at for at in load.answered_at)  # answers kept coming during the grace
    # The calls in flight finished by themselves, well within the 10 s grace: none was cancelled at
    # its end. Calls arriving after the stop began are refused (UNAVAILABLE, or CANCELLED by gRPC
    # for a call on an open connection that was never started: their shares are never written).
    assert stop_seconds < GRACE_SECONDS
    assert set(load.failures) <= {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}, load.failure_details
    events = await read_events(
        svc.isolated.stack.kafka_bootstrap,
        svc.topic("share-made"),
        ShareMade,
        lambda evs: set(load.acknowledged) <= {e.share.share_id for e in evs},
        within=30.0,
        settle=0.5,
    )
    sent = {e.share.share_id for e in events}
    assert set(load.acknowledged) <= sent
    assert not set(load.refused) & sent  # a refused call did nothing


async def test_sigkill_between_write_and_send_loses_nothing(platform):
    svc = Services(*platform)
    content_id, advocates = await _prepare(svc)
    cfg = svc.isolated.stack
    # Kafka down: every acknowledged share is written but not yet sent when the process dies.
    local_stack.stop_kafka(cfg)
    load = Load(svc, content_id, advocates)
    clients = [asyncio.create_task(load.client(n)) for n in range(8)]
    try:
        await load.until_acknowledged(30)
        code = await asyncio.to_thread(svc.platform.stop_service, "share", signal.SIGKILL)
    finally:
        load.running = False
        await asyncio.gather(*clients)
        await asyncio.to_thread(local_stack.start_kafka, cfg)
    assert code == -signal.SIGKILL
    await svc.share_channel.close()
    await svc.content_channel.close()

    svc.platform.start_service("share")
    await asyncio.to_thread(svc.platform.wait_serving, "share")
    events = await read_events(
        cfg.kafka_bootstrap,
        svc.topic("share-made"),
        ShareMade,
        lambda evs: set(load.acknowledged) <= {e.share.share_id for e in evs},
        within=90.0,
        settle=0.5,
    )
    assert set(load.acknowledged) <= {e.share.share_id for e in events}
