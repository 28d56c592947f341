"""Runs the content service as a real process (as Kubernetes does) against the test stack, and
reads / writes its Kafka topics the way other services do."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import grpc
from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.content.v1 import content_pb2, content_pb2_grpc
from advocacy.content.v1.content_pb2 import ContentPublished
from advocacy.share.v1 import share_pb2
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.common.events import new_event_id, to_timestamp, utcnow
from services.platform.supervisor import Platform, ServicePorts
from tests.conftest import PORT_OFFSET, ROOT, Isolated

# Clear of the e2e ports (24051+); metrics port 0 = no metrics endpoint (two replicas would collide).
BASE_PORT = 25051 + PORT_OFFSET


def content_process(isolated: Isolated, replica: int = 0, **env: str) -> Platform:
    return Platform(
        env={
            **isolated.env,
            "ADVOCACY_SCHEDULER_INTERVAL_SECONDS": "0.2",
            "ADVOCACY_SHUTDOWN_GRACE_SECONDS": "5",
            **env,
        },
        log_dir=ROOT / ".local" / "test" / "logs" / f"{isolated.prefix}content-{replica}",
        ports={"content": ServicePorts(BASE_PORT + replica, 0)},
    )


async def start(process: Platform) -> None:
    process.start_service("content")
    await asyncio.to_thread(process.wait_serving, "content", 90.0)


@asynccontextmanager
async def serving(
    isolated: Isolated, replica: int = 0, **env: str
) -> AsyncIterator[tuple[Platform, content_pb2_grpc.ContentServiceStub]]:
    """A started content process and a client of it; stopped at the end, which must exit 0."""
    process = content_process(isolated, replica, **env)
    await start(process)
    channel, content = stub(process)
    try:
        yield process, content
    finally:
        await channel.close()
        codes = process.stop()
    # Not in `finally`: a failing test's own error must not be masked by this one.
    assert codes == {"content": 0}, f"content did not exit cleanly: {codes}"


def stub(process: Platform) -> tuple[grpc.aio.Channel, content_pb2_grpc.ContentServiceStub]:
    channel = process.aio_channel("content")
    return channel, content_pb2_grpc.ContentServiceStub(channel)


def new_item(**fields) -> content_pb2.ContentItem:
    base = dict(
        title="We opened a new plant",
        url="https://example.com/news/plant",
        suggested_texts=[
            content_pb2.SuggestedText(network=Network.NETWORK_LINKEDIN, text="Proud of this!"),
            content_pb2.SuggestedText(network=Network.NETWORK_LINKEDIN, text="Nine months, one plant."),
            content_pb2.SuggestedText(network=Network.NETWORK_X, text="New plant!"),
        ],
    )
    base.update(fields)
    return content_pb2.ContentItem(**base)


async def approved(content: content_pb2_grpc.ContentServiceStub, **fields) -> content_pb2.ContentItem:
    item = await content.CreateContent(content_pb2.CreateContentRequest(item=new_item(**fields)))
    for step in (content.SubmitForReview, content.Approve):
        item = await step(content_pb2.TransitionRequest(content_id=item.content_id, actor_id="comms"))
    return item


async def published(content: content_pb2_grpc.ContentServiceStub, **fields) -> content_pb2.ContentItem:
    item = await approved(content, **fields)
    return await content.Publish(content_pb2.TransitionRequest(content_id=item.content_id, actor_id="comms"))


def ts(value: datetime):
    return to_timestamp(value)


async def produce(bootstrap: str, topic: str, records: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()


def advocate_changed(
    advocate_id: str,
    interests: tuple[str, ...] = (),
    occurred_at: datetime | None = None,
    enrolled: bool = True,
    **profile: str,
) -> bytes:
    return share_pb2.AdvocateChanged(
        event_id=new_event_id(),
        occurred_at=to_timestamp(occurred_at or utcnow()),
        advocate=share_pb2.Advocate(
            profile=AdvocateSnapshot(advocate_id=advocate_id, display_name=advocate_id, **profile),
            interests=list(interests),
            enrolled=enrolled,
        ),
    ).SerializeToString()


def share_made(advocate_id: str, content_id: str, event_id: str | None = None) -> bytes:
    return share_pb2.ShareMade(
        event_id=event_id or new_event_id(),
        occurred_at=to_timestamp(utcnow()),
        share=share_pb2.Share(
            share_id=uuid.uuid4().hex,
            content_id=content_id,
            advocate_id=advocate_id,
            network=Network.NETWORK_LINKEDIN,
            shared_at=to_timestamp(utcnow()),
        ),
    ).SerializeToString()


async def read_records(
    bootstrap: str, topic: str, done: Callable[[list[ContentPublished]], bool], within: float
) -> list[tuple[ContentPublished, datetime]]:
    """Reads `content-published` from the beginning until `done(events)` or time is up; then reads
    two more seconds so that a duplicate arriving late would be seen too. Each event comes with
    its record's Kafka timestamp: when the service's relay sent it (the producer's CreateTime)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    records: list[tuple[ContentPublished, datetime]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        settle: float | None = None
        while loop.time() < (settle or deadline):
            batch = await consumer.getmany(timeout_ms=300)
            for got in batch.values():
                records.extend(
                    (ContentPublished.FromString(r.value), datetime.fromtimestamp(r.timestamp / 1000, UTC)) for r in got
                )
            if settle is None and done([e for e, _ in records]):
                settle = loop.time() + 2.0
    finally:
        await consumer.stop()
    return records


async def read_events(
    bootstrap: str, topic: str, done: Callable[[list[ContentPublished]], bool], within: float
) -> list[ContentPublished]:
    """`read_records` without the record times."""
    return [event for event, _ in await read_records(bootstrap, topic, done, within)]


def distinct(events: list[ContentPublished], content_id: str, kind: int) -> set[str]:
    """Event ids of one item and kind: what a consumer de-duplicating on event_id processes."""
    return {e.event_id for e in events if e.item.content_id == content_id and e.kind == kind}


async def eventually(probe, within: float = 60.0, interval: float = 0.2):
    """Polls an async probe until it returns something truthy (the pipeline is asynchronous)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await probe()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(interval)
