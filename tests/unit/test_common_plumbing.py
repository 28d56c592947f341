"""The pieces of plumbing every service shares (services/common), each used from one place."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest
from advocacy.content.v1.content_pb2 import ContentItem
from advocacy.share.v1.share_pb2 import ShareMade
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_interceptor.exceptions import InvalidArgument
from kafka.errors import TopicAlreadyExistsError

from services.common import batching
from services.common.events import nonzero_time, optional_time, to_timestamp
from services.common.ids import MAX_ID, check_id
from services.common.kafka import start_producer
from services.common.metrics import EVENTS_CONSUMED
from services.common.outbox import OutboxEvent
from services.common.stream import topic_label
from services.common.topics import create_missing, topic_configs
from services.common.validation import check_request_id

AT = datetime(2026, 11, 27, 12, tzinfo=UTC)


def test_an_outbox_event_carries_the_event_id_and_its_serialization():
    event = ShareMade(event_id="e1")
    out = OutboxEvent.of(event, "p-share-made", key="aino")
    assert out == OutboxEvent("e1", "p-share-made", "aino", event.SerializeToString())


def test_optional_time_is_none_only_when_the_field_is_not_set():
    assert optional_time(ContentItem(), "expires_at") is None
    assert optional_time(ContentItem(expires_at=to_timestamp(AT)), "expires_at") == AT
    # Set to the zero Timestamp: a time (the epoch), as the content and share services read it.
    assert optional_time(ContentItem(expires_at=Timestamp()), "expires_at") == datetime(1970, 1, 1, tzinfo=UTC)


def test_nonzero_time_takes_the_zero_timestamp_for_missing():
    assert nonzero_time(Timestamp()) is None
    assert nonzero_time(to_timestamp(AT)) == AT
    assert nonzero_time(Timestamp(nanos=1000)) == datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC)


def test_a_topic_label_is_the_topic_without_the_app_prefix():
    app = cast(Any, SimpleNamespace(advocacy_topic_prefix="t-123-"))
    assert topic_label(app, "t-123-share-made") == "share-made"
    assert topic_label(app, "share-made") == "share-made"  # not prefixed: as it is
    assert topic_label(cast(Any, SimpleNamespace()), "share-made") == "share-made"


class FakeProducer:
    def __init__(self, fail: bool) -> None:
        self.fail, self.started, self.stopped = fail, False, False

    async def start(self) -> None:
        if self.fail:
            raise OSError("broker away")
        self.started = True

    async def stop(self) -> None:
        self.stopped = True


def test_start_producer_returns_a_started_producer():
    made = FakeProducer(fail=False)
    assert asyncio.run(start_producer(lambda: cast(Any, made))) is made
    assert made.started and not made.stopped


def test_a_producer_that_fails_to_start_is_stopped_and_the_error_raised():
    made = FakeProducer(fail=True)
    with pytest.raises(OSError, match="broker away"):
        asyncio.run(start_producer(lambda: cast(Any, made)))
    assert made.stopped


class FakeAdmin:
    """kafka-python's admin client as create_missing uses it; `racing` topics appear meanwhile."""

    def __init__(self, existing: set[str], racing: frozenset[str] = frozenset()) -> None:
        self.topics, self.racing = set(existing), racing
        self.waited: list[str] = []

    def list_topics(self) -> list[str]:
        return sorted(self.topics)

    def create_topics(self, new: dict[str, dict], timeout_ms: int) -> None:
        (name,) = new
        if name in self.racing:
            raise TopicAlreadyExistsError()
        self.topics.add(name)

    def wait_for_topics(self, names: list[str], timeout_ms: int) -> None:
        self.waited = names


def test_create_missing_creates_what_is_missing_and_waits_for_those_only():
    admin = FakeAdmin({"a"}, racing=frozenset({"c"}))
    options = {"num_partitions": 1, "replication_factor": 1, "configs": topic_configs(1000)}
    created = create_missing(cast(Any, admin), {n: options for n in ("a", "b", "c")})
    assert created == ["b"] and admin.waited == ["b"]  # "c": another process created it first
    assert create_missing(cast(Any, admin), {"b": options}) == []


def test_topic_configs_keep_records_for_the_retention_or_compact():
    assert topic_configs(1000) == {"retention.ms": "1000"}
    assert topic_configs(1000, compacted=True) == {"cleanup.policy": "compact"}


def test_an_id_is_1_to_128_characters_in_every_service():
    assert check_request_id("a" * MAX_ID, "advocate_id") == "a" * MAX_ID
    for bad in ("", "a" * (MAX_ID + 1)):
        with pytest.raises(InvalidArgument, match=r"advocate_id: must be 1\.\.128 characters"):
            check_request_id(bad, "advocate_id")


def test_an_optional_id_may_be_empty_but_not_longer():
    assert check_request_id("", "actor_id", optional=True) == ""
    with pytest.raises(InvalidArgument, match="actor_id: at most 128 characters"):
        check_request_id("a" * (MAX_ID + 1), "actor_id", optional=True)


def test_a_domain_raises_its_own_error_for_a_bad_id():
    with pytest.raises(ValueError, match=r"profile\.advocate_id"):
        check_id("", "profile.advocate_id", error=ValueError)


def test_process_batches_processes_the_admitted_events_and_counts_the_labels(monkeypatch: pytest.MonkeyPatch):
    async def taken(stream: Any, max_events: int, linger: float) -> AsyncIterator[list[str]]:
        for batch in (["a1", "a2"], ["held"], ["b1"]):
            yield batch

    class Admit:
        async def admit(self, events: list[str]) -> list[str]:
            return [e for e in events if e != "held"]  # an event delivered ahead: waits

    seen: list[list[str]] = []

    async def process(batch: Any) -> list[str]:
        seen.append(list(batch))
        return ["t-plumbing"] * len(batch)

    monkeypatch.setattr(batching, "take_adaptive", taken)
    before = EVENTS_CONSUMED.labels("t-plumbing")._value.get()
    asyncio.run(batching.process_batches(cast(Any, None), cast(Any, Admit()), "a", process, 10, 0.0))
    assert seen == [["a1", "a2"], ["b1"]]  # an empty admission is not processed
    assert EVENTS_CONSUMED.labels("t-plumbing")._value.get() - before == 3
