"""Faust plumbing shared by the stream processors (rewards, analytics).

- `ProtobufCodec`: events Faust sends are encoded by a registered protobuf codec; agents read raw
  bytes and decode a batch with `sort_out`, so poison goes to the DLQ a batch at a time.
- `DeadLetteringTopic`: a message that cannot be decoded goes to `<topic>.dlq` with the
  error and origin in headers, is counted, and the stream goes on.
- `until_done`: how an agent runs a batch (or an event): failures are retried in place and a
  batch cut short by cancellation is withheld from acknowledgement (Faust would ack it anyway).
- `AdvocacyTable`: a Faust table that does not mistake an unknown changelog for a mismatch;
  `DurableTable` also lets its writer await the changelog's acknowledgement.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import faust
import faust.streams
from faust.serializers import codecs
from faust.types import TP, AppT, EventT
from faust.types.tuples import Message as FaustMessage
from google.protobuf.message import DecodeError
from google.protobuf.message import Message as ProtoMessage
from pydantic import Field

from services.common.config import ServiceSettings
from services.common.delivery import deliver_per_fetch
from services.common.metrics import CONSUMER_LAG, STREAM_BATCH_RETRIES
from services.common.offsets import commit_only_processed, withhold_acks
from services.common.retry import retrying
from services.common.rocksdb import bound_rocksdb_memory
from services.common.topics import DeadLetter, send_dead_letters

T = TypeVar("T")
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 10.0


class StreamSettings(ServiceSettings):
    # Where Faust keeps RocksDB table state (ADVOCACY_STATE_DIR); lost state is rebuilt from changelogs.
    state_dir: Path = Path(".local/dev/faust")
    # rocksdb:// in production (rocksdict), memory:// is fine for tests and tiny setups.
    faust_store: str = "rocksdb://"
    topic_replication_factor: int = Field(default=1, ge=1)
    # Faust's 60 s defaults make a killed worker's partitions wait a minute; these are deliberate.
    broker_session_timeout_seconds: float = Field(default=20.0, gt=0)
    broker_heartbeat_interval_seconds: float = Field(default=2.0, gt=0)
    table_standby_replicas: int = Field(default=0, ge=0)
    # Faust's default; benchmarks commit more often to sample progress finely.
    broker_commit_interval_seconds: float = Field(default=2.8, gt=0)
    # All RocksDB memory of the worker (services/common/rocksdb.py): one block cache for every
    # table and partition, with the memtables charged to it and limited to rocksdb_memtable_mib.
    rocksdb_cache_mib: int = Field(default=64, ge=1)
    rocksdb_memtable_mib: int = Field(default=8, ge=1)


class ProtobufCodec(codecs.Codec):
    """Serializes one protobuf message type: `SerializeToString()` / `FromString()`."""

    def __init__(self, message_type: type[ProtoMessage], **kwargs: Any) -> None:
        super().__init__(message_type=message_type, **kwargs)
        self.message_type = message_type

    def _dumps(self, obj: Any) -> bytes:
        if isinstance(obj, bytes):
            return obj
        return obj.SerializeToString()

    def _loads(self, s: bytes) -> Any:
        return self.message_type.FromString(s)


def protobuf_codec_name(message_type: type[ProtoMessage]) -> str:
    name = f"proto:{message_type.DESCRIPTOR.full_name}"
    if name not in codecs.codecs:
        codecs.register(name, ProtobufCodec(message_type))
    return name


class DeadLetteringTopic(faust.Topic):
    """A topic whose undecodable messages are dead-lettered instead of crashing the agent."""

    async def on_key_decode_error(self, exc: Exception, message: FaustMessage) -> None:
        await self._dead_letter(exc, message, "undecodable_key")

    async def on_value_decode_error(self, exc: Exception, message: FaustMessage) -> None:
        await self._dead_letter(exc, message, "undecodable_value")

    async def _dead_letter(self, exc: Exception, message: FaustMessage, reason: str) -> None:
        await dead_letter(self.app, message, reason, exc)


@dataclass(frozen=True)
class Poison:
    """A consumed message that cannot be used: why (`reason`, `error`) goes into its DLQ headers."""

    message: FaustMessage
    reason: str
    # The error's text, not the exception: its traceback would hold the frame that caught it, and
    # with it the whole batch, in a reference cycle only the garbage collector frees.
    error: str


def sort_out(events: Iterable[EventT], decode: Callable[[EventT], T]) -> tuple[list[T], list[Poison]]:
    """Decodes each event of a batch: what does not decode (`DecodeError`) or is unusable
    (`ValueError`) is poison, for `dead_letter_all`."""
    good: list[T] = []
    poison: list[Poison] = []
    for event in events:
        try:
            good.append(decode(event))
        except DecodeError as exc:
            poison.append(Poison(event.message, "undecodable_value", str(exc)))
        except ValueError as exc:
            poison.append(Poison(event.message, "invalid", str(exc)))
    return good, poison


async def dead_letter(app: AppT, message: FaustMessage, reason: str, exc: BaseException | str) -> None:
    """Sends the raw message to `<topic>.dlq` with why and where it came from, and waits for the ack."""
    await dead_letter_all(app, [Poison(message, reason, str(exc))])


async def dead_letter_all(app: AppT, poison: Sequence[Poison]) -> None:
    """Sends a batch's poison messages to their `<topic>.dlq` all at once and waits for every ack
    (raises if one could not be sent): the batch's offsets are acknowledged only after this."""
    letters = [
        DeadLetter(topic_label(app, m.topic), m.topic, m.partition, m.offset, m.key, m.value, p.reason, p.error)
        for p in poison
        for m in (p.message,)
    ]
    # Faust's producer wraps aiokafka's, whose batch API the DLQ sends use (`send_dead_letters`).
    await send_dead_letters(letters, cast(Any, app.producer)._ensure_producer())


def topic_label(app: AppT, topic: str) -> str:
    """The topic's contract name, without the app's topic prefix: metric label values stay
    bounded when tests use random prefixes, and decoders dispatch on it."""
    return topic.removeprefix(getattr(app, "advocacy_topic_prefix", ""))


@contextmanager
def acting_as(event: Any) -> Iterator[None]:
    """Makes `event` Faust's current event: a table write then goes to the changelog (and store)
    partition of that event. A batched agent (`take_events`) writes each key as its own event."""
    token = faust.streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust.streams._current_event.reset(token)


async def until_done(
    agent: str,
    events: Sequence[EventT],
    attempt: Callable[[], Awaitable[T]],
    before_retry: Callable[[], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Runs `attempt` (the processing of `events`) until it succeeds, with the common retry policy.

    Faust acknowledges a stream's events even when the agent fails (`take_events` acks its batch
    in a `finally`, an event stream acks the current event in its own), and Faust commits what is
    acknowledged: a failure that left the agent would lose the batch. So a failure (database
    down, a changelog not known yet) is retried here, which is safe because every effect is
    idempotent and the agents' state is written last; a processing bug shows as an endless retry
    (log + `advocacy_stream_batch_retries_total`), never as lost events. An agent cancelled
    mid-batch (shutdown) withholds the batch from acknowledgement: it is delivered again."""

    def retried(_: BaseException) -> None:
        STREAM_BATCH_RETRIES.labels(agent).inc()
        if before_retry is not None:
            before_retry()

    policy = retrying(
        retry_on=Exception,
        event="batch_failed_retrying",
        first_seconds=RETRY_FIRST_SECONDS,
        max_seconds=RETRY_MAX_SECONDS,
        on_retry=retried,
        sleep=sleep,
        log_level="error",
        agent=agent,
    )
    try:
        return await policy(attempt)
    except BaseException:
        withhold_acks(events)
        raise


class AdvocacyTable(faust.Table):
    """A Faust table whose source/changelog partition check tolerates an unknown changelog.

    Faust checks the partition counts with aiokafka's metadata snapshot of the last group join; a
    changelog topic Faust created after that join shows 0 partitions there until the next
    rebalance, and Faust raised `PartitionsMismatch` on the first table write (seen on a fresh
    stack). Unknown is not a mismatch: the check runs (uncached) on a later write once known."""

    def _verify_source_topic_partitions(self, source_topic: str) -> None:
        if not self.app.consumer.topic_partitions(self.changelog_topic_name):
            return
        super()._verify_source_topic_partitions(source_topic)


class DurableTable(AdvocacyTable):
    """A table whose changelog writes can be awaited: Faust only queues them (`send_soon`), and
    `Producer.flush` returns after 0.1 s without a send. A writer that must not act before its
    state is durable (the award agent's outbox) awaits `changelog_acknowledged()`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unacknowledged: list[asyncio.Future] = []

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        sent = super().send_changelog(*args, **kwargs)
        self._unacknowledged.append(sent)
        return sent

    async def changelog_acknowledged(self) -> None:
        """Returns once every changelog write so far is acknowledged by Kafka (raises if one failed)."""
        pending, self._unacknowledged = self._unacknowledged, []
        await asyncio.gather(*pending)


def durable_table(app: faust.App, name: str, **kwargs: Any) -> DurableTable:
    table = DurableTable(app, name=name, beacon=app.tables.beacon, **kwargs)
    return cast(DurableTable, app.tables.add(table))


def create_app(name: str, settings: StreamSettings) -> faust.App:
    commit_only_processed()
    deliver_per_fetch()
    bound_rocksdb_memory(settings.rocksdb_cache_mib, settings.rocksdb_memtable_mib)
    datadir = settings.state_dir / name
    datadir.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    app = faust.App(
        # The app id is the consumer group and the changelog topic prefix.
        id=f"{settings.topic_prefix}advocacy-{name}",
        broker=f"kafka://{settings.kafka_bootstrap}",
        store=settings.faust_store,
        datadir=str(datadir),
        web_enabled=False,
        autodiscover=False,
        topic_replication_factor=settings.topic_replication_factor,
        topic_allow_declare=True,
        table_standby_replicas=settings.table_standby_replicas,
        broker_session_timeout=settings.broker_session_timeout_seconds,
        broker_heartbeat_interval=settings.broker_heartbeat_interval_seconds,
        broker_rebalance_timeout=settings.broker_session_timeout_seconds,
        broker_commit_interval=settings.broker_commit_interval_seconds,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # Our own structlog output; Faust must not hijack stdout.
        worker_redirect_stdouts=False,
        Table=AdvocacyTable,
    )
    app.advocacy_topic_prefix = settings.topic_prefix  # type: ignore[attr-defined]
    _report_consumer_lag(app)
    return app


def _report_consumer_lag(app: faust.App, interval_seconds: float = 5.0) -> None:
    """Publishes per-partition lag of the topics this worker consumes as a group member: the
    partition's end offset minus the group's committed offset (read at assignment, as Faust seeks
    to it; the log's start when the group never committed). The tables' changelogs, which the
    worker writes and only reads back to recover, are not lag."""

    @app.timer(interval=interval_seconds, on_leader=False)
    async def report_consumer_lag() -> None:
        changelogs = app.tables.changelog_topics
        assigned = [tp for tp in app.consumer.assignment() if tp.topic not in changelogs]
        ends = await app.consumer.highwaters(*assigned) if assigned else {}
        committed = cast(Any, app.consumer)._committed_offset
        never = [tp for tp in assigned if committed.get(tp) is None]
        starts = await app.consumer.earliest_offsets(*never) if never else {}
        CONSUMER_LAG.clear()  # partitions move between workers on rebalance
        for tp, lag in consumer_lag(ends, committed, starts).items():
            CONSUMER_LAG.labels(topic_label(app, tp.topic), str(tp.partition)).set(lag)


def consumer_lag(
    ends: Mapping[TP, int | None], committed: Mapping[TP, int | None], starts: Mapping[TP, int | None]
) -> dict[TP, int]:
    """Messages not yet committed per partition: from the committed offset, or from the start of
    the log when nothing was committed, to its end."""
    lags = {}
    for tp, end in ends.items():
        done = committed.get(tp)
        if done is None:
            done = starts.get(tp)
        lags[tp] = max((end or 0) - (done or 0), 0)
    return lags


def proto_topic(app: faust.App, name: str, message_type: type[ProtoMessage]) -> DeadLetteringTopic:
    return DeadLetteringTopic(
        app,
        topics=[name],
        key_type=str,
        value_type=None,
        key_serializer="raw",
        value_serializer=protobuf_codec_name(message_type),
    )
