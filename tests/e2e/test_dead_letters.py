"""Poison messages: a consumer dead-letters what it cannot decode, with the error and origin, counts
it, and goes on with the good messages; the replay tool sends fixed messages back."""

from __future__ import annotations

import time

from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.rewards.v1 import rewards_pb2
from advocacy.share.v1.share_pb2 import Share, ShareMade
from kafka import KafkaConsumer, KafkaProducer

from services.common.dlq import replay
from services.common.events import new_event_id, to_timestamp, utcnow
from tests.e2e.test_operations import metric
from tests.e2e.test_walking_skeleton import eventually

CONSUMERS = 4  # consumer groups of share-made: rewards, analytics, content (feed view), notify (planner)


def share_made(advocate_id: str) -> ShareMade:
    return ShareMade(
        event_id=new_event_id(),
        occurred_at=to_timestamp(utcnow()),
        share=Share(
            share_id=new_event_id(),
            content_id="c-dlq",
            advocate_id=advocate_id,
            network=Network.NETWORK_LINKEDIN,
            audience_size=100,
        ),
        advocate=AdvocateSnapshot(advocate_id=advocate_id, display_name="Dee"),
    )


def dlq_messages(bootstrap: str, topic: str, expected: int) -> list:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=2000)
    messages: list = []
    deadline = time.monotonic() + 60
    try:
        while len(messages) < expected and time.monotonic() < deadline:
            messages.extend(consumer)
    finally:
        consumer.close()
    return messages


def test_poison_goes_to_the_dlq_and_good_events_still_count(platform, clients):
    env = platform.env
    bootstrap, prefix = env["ADVOCACY_KAFKA_BOOTSTRAP"], env["ADVOCACY_TOPIC_PREFIX"]
    topic = f"{prefix}share-made"
    before = metric(platform, "rewards", "advocacy_events_dead_lettered_total", topic="share-made")
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        producer.send(topic, key=b"dee", value=b"\xff\xfe not a protobuf").get(timeout=30)
        producer.send(topic, key=b"dee", value=share_made("dee").SerializeToString()).get(timeout=30)
        producer.flush()
    finally:
        producer.close()

    # The good event behind the poison one is processed: at least the 10 points for the share.
    def points() -> int:
        return clients.rewards.GetBalance(rewards_pb2.GetBalanceRequest(advocate_id="dee")).points

    assert eventually(lambda: points() >= 10)
    # Every consumer of share-made (rewards, analytics, content's feed view) dead-letters its copy
    # of the poison message, with why and from where.
    dead = dlq_messages(bootstrap, f"{topic}.dlq", expected=CONSUMERS)
    assert len(dead) == CONSUMERS and {m.value for m in dead} == {b"\xff\xfe not a protobuf"}
    for message in dead:
        headers = dict(message.headers)
        assert headers["dlq.reason"] == b"undecodable_value"
        assert headers["dlq.origin"].decode().startswith(f"{topic}/")
    assert eventually(
        lambda: metric(platform, "rewards", "advocacy_events_dead_lettered_total", topic="share-made") == before + 1
    )

    # Only what decodes is replayed: the garbage stays in the DLQ, counted as kept.
    report = replay(bootstrap, "share-made", prefix, only_decodable=True)
    assert (report.replayed, report.kept) == (0, CONSUMERS)

    # A message that decodes (e.g. after the producer was fixed) is replayed once, then processed.
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        fixed = share_made("fin")
        producer.send(f"{topic}.dlq", key=b"fin", value=fixed.SerializeToString()).get(timeout=30)
    finally:
        producer.close()
    report = replay(bootstrap, "share-made", prefix, only_decodable=True)
    assert (report.replayed, report.kept) == (1, CONSUMERS)  # the garbage is kept again, for a later fix
    assert eventually(lambda: clients.rewards.GetBalance(rewards_pb2.GetBalanceRequest(advocate_id="fin")).points >= 10)
    again = replay(bootstrap, "share-made", prefix, only_decodable=True)
    assert (again.replayed, again.kept) == (0, CONSUMERS)  # the fixed one was committed: never twice
