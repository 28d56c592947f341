"""The one declarative list of Kafka topics, and their provisioning with kafka-python's admin client.

`advocacy topics [--kafka HOST:PORT] [--topic-prefix P]` creates what is missing and leaves existing
topics alone, so it is safe to run on every start.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from advocacy.content.v1.content_pb2 import CampaignPrerequisitesChanged, ContentPublished, LessonCompleted
from advocacy.notify.v1.notify_pb2 import NotificationSent
from advocacy.rewards.v1.rewards_pb2 import PointsAwarded
from advocacy.share.v1.share_pb2 import AdvocateChanged, EngagementObserved, ShareMade
from aiokafka import AIOKafkaProducer
from google.protobuf.message import Message
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError, TopicAlreadyExistsError

from services.common.logging import get_logger
from services.common.metrics import EVENTS_DEAD_LETTERED
from services.common.retry import retrying_sync

log = get_logger(__name__)

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int
    message_type: type[Message]
    # Every consumed topic gets a `<name>.dlq` sibling for messages that cannot be decoded or validated.
    has_dlq: bool = True
    dlq_retention_ms: int = 30 * DAY_MS
    # Compacted topics keep the latest record per key forever (current state, not history).
    compacted: bool = False

    def configs(self) -> dict[str, str]:
        return topic_configs(self.retention_ms, self.compacted)


def topic_configs(retention_ms: int, compacted: bool = False) -> dict[str, str]:
    """A topic's cleanup configs: a compacted topic keeps the latest record per key for good (a
    view's source), any other one its records for `retention_ms`."""
    return {"cleanup.policy": "compact"} if compacted else {"retention.ms": str(retention_ms)}


CONTENT_PUBLISHED = TopicSpec("content-published", 4, 30 * DAY_MS, ContentPublished)
SHARE_MADE = TopicSpec("share-made", 8, 30 * DAY_MS, ShareMade)
ENGAGEMENT_OBSERVED = TopicSpec("engagement-observed", 8, 30 * DAY_MS, EngagementObserved)
POINTS_AWARDED = TopicSpec("points-awarded", 8, 30 * DAY_MS, PointsAwarded)
ADVOCATE_CHANGED = TopicSpec("advocate-changed", 8, -1, AdvocateChanged, compacted=True)
# Keyed by advocate and partitioned as share-made, so the award agent reads an advocate's
# completions and shares from the same partition number. Kept forever (one record per advocate and
# lesson, so it grows with them, not with time): the share service rebuilds who completed what
# from the whole topic to enforce campaign prerequisites.
LESSON_COMPLETED = TopicSpec("lesson-completed", 8, -1, LessonCompleted)
# The lessons each campaign requires before its items may be shared: the whole list per record,
# the latest per campaign kept (a view's source). Written by admins only, so one partition.
CAMPAIGN_PREREQUISITES = TopicSpec("campaign-prerequisites", 1, -1, CampaignPrerequisitesChanged, compacted=True)
# Rendered notifications for apps that deliver by themselves (push, intranet). A week: a message
# older than that is no longer worth showing.
NOTIFICATION_SENT = TopicSpec("notification-sent", 8, 7 * DAY_MS, NotificationSent)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    CONTENT_PUBLISHED,
    SHARE_MADE,
    ENGAGEMENT_OBSERVED,
    POINTS_AWARDED,
    ADVOCATE_CHANGED,
    LESSON_COMPLETED,
    CAMPAIGN_PREREQUISITES,
    NOTIFICATION_SENT,
)


def dlq_name(topic: str) -> str:
    return f"{topic}.dlq"


def dlq_headers(reason: str, error: str, topic: str, partition: int, offset: int) -> list[tuple[str, bytes]]:
    """What every dead-lettered message carries: why, the error, and where it came from."""
    return [
        ("dlq.reason", reason.encode()),
        ("dlq.error", str(error)[:1000].encode()),
        ("dlq.origin", f"{topic}/{partition}/{offset}".encode()),
    ]


@dataclass(frozen=True)
class DeadLetter:
    """A consumed message that cannot be used, on its way to `<topic>.dlq`."""

    label: str  # the topic without a test prefix: a bounded metric label
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    reason: str
    error: str  # its text: an exception would keep its traceback's frames alive

    @property
    def headers(self) -> list[tuple[str, bytes]]:
        return dlq_headers(self.reason, self.error, self.topic, self.partition, self.offset)


async def send_dead_letters(letters: Sequence[DeadLetter], producer: AIOKafkaProducer) -> None:
    """Sends every message to its DLQ at once, then waits for every ack, raising the first failure;
    only then counts them. A caller commits the messages' offsets only after this returned, so a
    poison message is in its DLQ before its offset is committed: one roundtrip per batch instead of
    one per message. Logged once per partition and reason (the DLQ keeps each message with its origin).

    The letters go into record batches built here (aiokafka's `create_batch` / `send_batch`), to
    the DLQ partition of their origin partition (modulo the DLQ's partitions): no per-message
    future or key hashing, and the poison of one origin partition stays in its order."""
    by_partition: dict[tuple[str, int], list[DeadLetter]] = {}
    partitions: dict[str, list[int]] = {}
    for letter in letters:
        dlq = dlq_name(letter.topic)
        if dlq not in partitions:
            partitions[dlq] = sorted(await producer.partitions_for(dlq))
        of_dlq = partitions[dlq]
        by_partition.setdefault((dlq, of_dlq[letter.partition % len(of_dlq)]), []).append(letter)
    acks = []
    for (dlq, partition), group in by_partition.items():
        batch = producer.create_batch()
        for letter in group:
            # None: the batch is full (its first message always fits), so it goes and a new one starts.
            while batch.append(timestamp=None, key=letter.key, value=letter.value, headers=letter.headers) is None:
                acks.append(await producer.send_batch(batch, dlq, partition=partition))
                batch = producer.create_batch()
        batch.close()  # ours alone: no other send joins it
        acks.append(await producer.send_batch(batch, dlq, partition=partition))
    for ack in acks:
        await ack
    groups: dict[tuple[str, int, str], list[DeadLetter]] = {}
    for letter in letters:
        groups.setdefault((letter.topic, letter.partition, letter.reason), []).append(letter)
    for (topic, partition, reason), group in groups.items():
        EVENTS_DEAD_LETTERED.labels(group[0].label, reason).inc(len(group))
        log.warning(
            "dead_lettered",
            topic=topic,
            partition=partition,
            reason=reason,
            count=len(group),
            offsets=[d.offset for d in group[:20]],
            error=str(group[0].error)[:300],
        )


def desired_topics(prefix: str = "") -> dict[str, dict]:
    """Topic name -> kafka-python `create_topics` options, DLQs included."""
    topics: dict[str, dict] = {}
    for spec in ALL_TOPICS:
        name = prefix + spec.name
        topics[name] = {
            "num_partitions": spec.partitions,
            "replication_factor": 1,
            "configs": spec.configs(),
        }
        if spec.has_dlq:
            topics[dlq_name(name)] = {
                "num_partitions": 1,
                "replication_factor": 1,
                "configs": {"retention.ms": str(spec.dlq_retention_ms)},
            }
    return topics


def create_missing(admin: KafkaAdminClient, topics: dict[str, dict], timeout_s: float = 60.0) -> list[str]:
    """Creates those of `topics` (name -> kafka-python `create_topics` options) that do not exist
    and waits until they have leaders; returns the names it created. Blocking."""
    existing = set(admin.list_topics())
    created: list[str] = []
    for name, options in topics.items():
        if name in existing:
            continue
        try:
            admin.create_topics({name: options}, timeout_ms=60_000)
            created.append(name)
        except TopicAlreadyExistsError:
            pass  # another process provisioned it first
    if created:
        # Generous: on a loaded 2-core machine new topics can take seconds to get their leaders.
        admin.wait_for_topics(created, timeout_ms=int(timeout_s * 1000))
    return created


def provision(bootstrap: str, prefix: str = "", timeout_s: float = 60.0) -> list[str]:
    """Creates missing topics and waits until they have leaders; returns the names it created."""
    # A broker still starting: ask again every 0.5 s until the deadline.
    admin = retrying_sync(
        retry_on=KafkaError,
        event="kafka_admin_retry",
        first_seconds=0.5,
        max_seconds=0.5,
        deadline=time.monotonic() + timeout_s,
        log_level="info",
    )(KafkaAdminClient, bootstrap_servers=bootstrap, client_id="advocacy-provisioner")
    try:
        return create_missing(admin, desired_topics(prefix), timeout_s)
    finally:
        admin.close()


def ensure_internal_topics(
    bootstrap: str, names: list[str], partitions: int, replication: int, compacted: frozenset[str] = frozenset()
) -> None:
    """A service's internal topics (its tables' changelogs, its repartition topics), created when
    missing (blocking; run it in a thread). Faust subscribes before it would declare them itself,
    and a changelog declared while its producer already sends to it could stall that producer."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="advocacy-internal-topics")
    try:
        options = {"num_partitions": partitions, "replication_factor": replication}
        create_missing(admin, {n: {**options, "configs": topic_configs(30 * DAY_MS, n in compacted)} for n in names})
    finally:
        admin.close()
