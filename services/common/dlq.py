"""Dead-letter topics: inspect them and replay fixed messages to where they came from.

    advocacy dlq list   --topic share-made
    advocacy dlq replay --topic share-made [--only-decodable]

Each `<topic>.dlq` message keeps its original key and value plus `dlq.reason`, `dlq.error` and
`dlq.origin` headers (see services/common/stream.py). `replay` reads the DLQ with a consumer group
of its own and commits as it goes, so a message is replayed once even if the tool runs again;
`--only-decodable` replays only what now decodes as the topic's event type; the rest is appended
to the DLQ again, counted as kept, for a later run after a fix. A consumer that still cannot take
a replayed message dead-letters it again, which is safe.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

from google.protobuf.message import DecodeError
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from services.common.topics import ALL_TOPICS, TopicSpec, dlq_name

REPLAY_GROUP = "advocacy-dlq-replay"


@dataclass
class ReplayReport:
    replayed: int = 0
    kept: int = 0


class UnknownTopic(ValueError):
    pass


def topic_spec(topic: str) -> TopicSpec:
    for spec in ALL_TOPICS:
        if spec.name == topic:
            return spec
    raise UnknownTopic(f"unknown topic {topic!r}; known: {', '.join(s.name for s in ALL_TOPICS)}")


def _decodes(spec: TopicSpec, value: bytes | None) -> bool:
    try:
        spec.message_type.FromString(value or b"")
    except DecodeError:
        return False
    return True


def _consumer(bootstrap: str, topic: str, group: str | None) -> KafkaConsumer:
    return KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,  # stop iterating once the DLQ has nothing more for 3 s
    )


def show(bootstrap: str, topic: str, prefix: str = "") -> collections.Counter[str]:
    """Counts the DLQ's messages by reason, without consuming them for anyone."""
    reasons: collections.Counter[str] = collections.Counter()
    consumer = _consumer(bootstrap, dlq_name(prefix + topic), group=None)
    try:
        for message in consumer:
            headers = dict(message.headers or [])
            reasons[headers.get("dlq.reason", b"unknown").decode()] += 1
    finally:
        consumer.close()
    return reasons


def replay(bootstrap: str, topic: str, prefix: str = "", only_decodable: bool = False) -> ReplayReport:
    """Replays the DLQ up to its end *as of now*. With `only_decodable`, a message that still does not
    decode is appended to the DLQ again (Kafka commits are positions, not per-message marks), so it
    stays for a later run and this run cannot loop over it."""
    spec = topic_spec(topic)
    target = prefix + topic
    dlq = dlq_name(target)
    report = ReplayReport()
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"{prefix}{REPLAY_GROUP}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    try:
        partitions = [TopicPartition(dlq, p) for p in sorted(consumer.partitions_for_topic(dlq) or [])]
        consumer.assign(partitions)
        end = consumer.end_offsets(partitions)
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            for tp, messages in consumer.poll(timeout_ms=1000).items():
                for message in messages:
                    if message.offset >= end[tp]:
                        continue  # appended during this run (e.g. kept ones): next run
                    if only_decodable and not _decodes(spec, message.value):
                        producer.send(dlq, key=message.key, value=message.value, headers=message.headers).get(30)
                        report.kept += 1
                    else:
                        headers = [(k, v) for k, v in (message.headers or []) if not k.startswith("dlq.")]
                        origin = f"{message.topic}/{message.partition}/{message.offset}".encode()
                        producer.send(
                            target,
                            key=message.key,
                            value=message.value,
                            headers=[*headers, ("dlq.replayed-from", origin)],
                        ).get(30)
                        report.replayed += 1
                    # After the send was acknowledged: a crash repeats at most this one message.
                    consumer.commit({tp: OffsetAndMetadata(message.offset + 1, "", -1)})
    finally:
        producer.close()
        consumer.close()
    return report
