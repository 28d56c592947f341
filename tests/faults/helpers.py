"""What the fault tests share: a steady writer of shares and a reader of a whole topic."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import grpc
from advocacy.common.v1.common_pb2 import Network
from advocacy.share.v1 import share_pb2
from kafka import KafkaConsumer, TopicPartition

from tests.e2e.conftest import Clients


@dataclass
class ShareWriter:
    """Records shares through the real share API at a steady pace in a thread, keeping what the
    API acknowledged (share id → wall-clock time) and what it refused (status code → count)."""

    clients: Clients
    content_id: str
    advocates: list[str]
    interval_seconds: float = 0.05
    timeout_seconds: float = 5.0
    acknowledged: dict[str, float] = field(default_factory=dict)
    refused: Counter[str] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=30)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            advocate = self.advocates[n % len(self.advocates)]
            try:
                reply = self.clients.share.RecordShare(
                    share_pb2.RecordShareRequest(
                        content_id=self.content_id,
                        advocate_id=advocate,
                        network=Network.NETWORK_LINKEDIN,
                        message=f"Fault run share {n}",
                        idempotency_key=f"fault-{n}",
                    ),
                    timeout=self.timeout_seconds,
                )
                self.acknowledged[reply.share.share_id] = time.time()
            except grpc.RpcError as err:
                self.refused[err.code().name] += 1
            self._stop.wait(self.interval_seconds)


def read_topic(
    bootstrap: str, topic: str, message_type, wanted: set[str], key, timeout: float = 120.0
) -> list[tuple[float, Any]]:
    """Every message of `topic` from the beginning as (Kafka timestamp in s, decoded event), read
    until `key(event)` covers `wanted` (or `timeout`) and the end offsets as of then are reached.
    The timestamp is the producer's send time: when the event actually left its outbox."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=1000)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        events: list[tuple[float, Any]] = []
        seen: set[str] = set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in consumer:
                event = message_type.FromString(record.value)
                events.append((record.timestamp / 1000, event))
                seen.add(key(event))
            ends = consumer.end_offsets(partitions)
            at_end = all(consumer.position(tp) >= ends[tp] for tp in partitions)
            if wanted <= seen and at_end:
                break
        return events
    finally:
        consumer.close()
