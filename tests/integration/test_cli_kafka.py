"""`advocacy topics` and `advocacy dlq list|replay` (formerly `python -m services.common.topics` and
`python -m services.common.dlq`) against the real broker, through typer's CliRunner."""

from __future__ import annotations

import json
import uuid

import pytest
from advocacy.share.v1.share_pb2 import Share, ShareMade
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient
from typer.testing import CliRunner

from services.cli.__main__ import app
from services.common.topics import ALL_TOPICS, dlq_headers, dlq_name

runner = CliRunner()


def advocacy(*args: str, code: int = 0, env: dict[str, str] | None = None) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200", **(env or {})})
    assert result.exit_code == code, f"advocacy {' '.join(args)} → {result.exit_code}: {result.output}"
    assert "Traceback" not in result.output
    return result.stdout


def test_topics_creates_what_is_missing_and_then_nothing(stack):
    prefix = f"cli{uuid.uuid4().hex[:8]}-"
    created = json.loads(advocacy("--json", "topics", "--kafka", stack.kafka_bootstrap, "--topic-prefix", prefix))
    expected = {prefix + s.name for s in ALL_TOPICS} | {dlq_name(prefix + s.name) for s in ALL_TOPICS if s.has_dlq}
    assert set(created["created"]) == expected
    # The argparse tool's spellings still work, and a second run leaves every topic alone.
    assert (
        advocacy("topics", "--bootstrap", stack.kafka_bootstrap, "--prefix", prefix)
        == "topics: 0 created, all present\n"
    )
    admin = KafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    try:
        partitions = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(sorted(expected))}
    finally:
        admin.close()
    assert all(partitions[prefix + s.name] == s.partitions for s in ALL_TOPICS)


def dead_letter(producer: KafkaProducer, topic: str, value: bytes, reason: str) -> None:
    headers = dlq_headers(reason, "test", topic, 0, 7)
    producer.send(dlq_name(topic), key=b"dee", value=value, headers=headers).get(timeout=30)


@pytest.fixture
def dead_letters(isolated):
    """share-made's DLQ with one message that never decodes and one that does (now fixed)."""
    topic = f"{isolated.prefix}share-made"
    good = ShareMade(event_id="e-fixed", share=Share(share_id="s1", advocate_id="dee")).SerializeToString()
    producer = KafkaProducer(bootstrap_servers=isolated.stack.kafka_bootstrap, acks="all")
    try:
        dead_letter(producer, topic, b"\xff\xfe not a protobuf", "undecodable_value")
        dead_letter(producer, topic, good, "invalid_event")
    finally:
        producer.close()
    return isolated, topic, good


def test_dlq_list_counts_by_reason_and_replay_sends_back_only_what_decodes(dead_letters):
    isolated, topic, good = dead_letters
    env = {"ADVOCACY_KAFKA_BOOTSTRAP": isolated.stack.kafka_bootstrap, "ADVOCACY_TOPIC_PREFIX": isolated.prefix}
    listed = advocacy("dlq", "list", "--topic", "share-made", env=env)
    assert listed == "share-made.dlq: 2 message(s)\n  undecodable_value: 1\n  invalid_event: 1\n"
    counted = json.loads(advocacy("--json", "dlq", "list", "--topic", "share-made", env=env))
    assert counted == {
        "topic": "share-made",
        "dlq": "share-made.dlq",
        "messages": 2,
        "reasons": {"undecodable_value": 1, "invalid_event": 1},
    }

    replayed = advocacy("dlq", "replay", "--topic", "share-made", "--only-decodable", env=env)
    assert replayed == "replayed 1 to share-made; kept 1 that still do not decode\n"
    consumer = KafkaConsumer(
        topic, bootstrap_servers=isolated.stack.kafka_bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=3000
    )
    try:
        back = list(consumer)
    finally:
        consumer.close()
    assert [m.value for m in back] == [good]
    assert dict(back[0].headers)["dlq.replayed-from"].startswith(dlq_name(topic).encode())
    # The kept one was appended again; a later replay sees only it (the first two were committed).
    again = json.loads(advocacy("--json", "dlq", "replay", "--topic", "share-made", "--only-decodable", env=env))
    assert again == {"topic": "share-made", "replayed": 0, "kept": 1}
