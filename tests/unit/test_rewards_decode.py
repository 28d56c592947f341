"""The award agent's decoding of its internal redemption-request topic (requests, sweep requests:
app/processor.py) and of lesson completions, and their poison."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from advocacy.common.v1.common_pb2 import AdvocateSnapshot
from advocacy.content.v1.content_pb2 import LessonCompleted
from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp

from services.common.topics import LESSON_COMPLETED
from services.rewards.app.incoming import REDEMPTION_KIND, SWEEP_KIND
from services.rewards.stream.decode import REDEMPTION_REQUESTS, decode, sweep_message


def event(value: bytes, key: bytes | None = None, partition: int = 3, offset: int = 7) -> SimpleNamespace:
    message = SimpleNamespace(topic="p-rewards-redemption-requests", partition=partition, offset=offset, key=key)
    message.timestamp = 1_760_000_000.0
    return SimpleNamespace(value=value, message=message)


def test_a_sweep_request_names_no_advocate_and_keeps_its_partition_and_offset():
    got = decode(event(sweep_message()), REDEMPTION_REQUESTS)
    assert (got.kind, got.advocate_id, got.partition, got.offset) == (SWEEP_KIND, "", 3, 7)
    assert got.source == "p-rewards-redemption-requests/3"


def test_a_redemption_request_is_the_keyed_advocate_s():
    body = json.dumps({"key": "k1", "request_id": "r1", "item_id": "mug", "cost": 20}).encode()
    got = decode(event(body, key=b"aino"), REDEMPTION_REQUESTS)
    assert (got.kind, got.advocate_id, got.source_id) == (REDEMPTION_KIND, "aino", "k1")
    assert got.redemption is not None and got.redemption.cost == 20


@pytest.mark.parametrize("value", [b"not json", b'{"sweep": "yes"}', b'{"key": "k1"}', b"[1, 2]"])
def test_anything_else_is_poison(value: bytes):
    with pytest.raises(ValueError):
        decode(event(value, key=b"aino"), REDEMPTION_REQUESTS)


def lesson_event(done: LessonCompleted, offset: int = 4) -> SimpleNamespace:
    message = SimpleNamespace(topic="p-lesson-completed", partition=5, offset=offset, key=b"aino")
    return SimpleNamespace(value=done.SerializeToString(), message=message)


def completion(**fields) -> LessonCompleted:
    values = {
        "event_id": "lc-1",
        "lesson_id": "tone-of-voice",
        "advocate": AdvocateSnapshot(advocate_id="aino", team="sales", timezone="Asia/Tokyo"),
        "occurred_at": Timestamp(seconds=int(datetime(2026, 10, 14, 20, tzinfo=UTC).timestamp())),
        **fields,
    }
    return LessonCompleted(**values)


def test_a_lesson_completion_is_the_advocate_s_on_their_local_day():
    got = decode(lesson_event(completion()), LESSON_COMPLETED.name)
    assert (got.kind, got.advocate_id, got.source_id, got.content_id) == ("lesson", "aino", "lc-1", "tone-of-voice")
    assert got.day == "2026-10-15"  # 20:00 UTC is the next morning in Tokyo
    assert (got.source, got.partition, got.offset) == ("p-lesson-completed/5", 5, 4)
    assert got.snapshot is not None and got.snapshot.team == "sales"


@pytest.mark.parametrize(
    "done",
    [
        completion(lesson_id=""),
        completion(event_id=""),
        completion(advocate=AdvocateSnapshot(team="sales")),
    ],
)
def test_a_completion_without_lesson_advocate_or_event_id_is_poison(done: LessonCompleted):
    with pytest.raises(ValueError):
        decode(lesson_event(done), LESSON_COMPLETED.name)


def test_an_undecodable_completion_is_poison():
    event = lesson_event(completion())
    event.value = b"\xff\xff not protobuf"
    with pytest.raises(DecodeError):
        decode(event, LESSON_COMPLETED.name)
