"""Replay / backfill: make a stream worker (rewards or analytics) process its input topics again
from the earliest retained offset.

What it does: with the worker STOPPED (its consumer group has no members; Kafka refuses to move
the offsets of an active group), it resets every offset the group has committed (Faust's app id
`<prefix>advocacy-<service>` is the group) to the partition's earliest offset. When the worker
starts again it re-reads everything; `follow` shows its progress (committed vs. end offsets).

Why that is safe: every effect is idempotent. Analytics stores one fact per event id, so a
replay re-inserts nothing it already has and restores facts it lost (e.g. a dropped collection).
Rewards keeps the offsets it applied in its advocate states: an already-applied event changes
nothing (its effects went out, or go out again from the state's outbox with the same ids).

What it does NOT do: it cannot bring back events older than the topics' retention (30 days,
`advocate-changed` is compacted); it does not reset Faust table state (RocksDB + changelog), so
a rewards replay does not rebuild a lost ledger (its leaderboard documents are rewritten from the
states whenever a worker gets a partition); and it does not touch the producing services
(content, share)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from kafka import TopicPartition
from kafka.admin import KafkaAdminClient, OffsetSpec
from kafka.errors import KafkaError

REPLAYABLE = ("rewards", "analytics")


class ReplayError(Exception):
    pass


def group_id(service: str, topic_prefix: str = "") -> str:
    if service not in REPLAYABLE:
        raise ReplayError(f"{service!r} has no stream state to replay (one of {', '.join(REPLAYABLE)})")
    return f"{topic_prefix}advocacy-{service}"


@dataclass
class ReplayPlan:
    group: str
    start: dict[TopicPartition, int]  # earliest offset the group now starts from
    end: dict[TopicPartition, int]  # end offset at reset time
    previous: dict[TopicPartition, int]  # committed before the reset

    @property
    def total(self) -> int:
        return sum(max(self.end[tp] - self.start[tp], 0) for tp in self.start)


def _admin(bootstrap: str) -> KafkaAdminClient:
    try:
        return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="advocacy-replay", request_timeout_ms=10_000)
    except KafkaError as exc:
        raise ReplayError(
            f"Kafka at {bootstrap} is unreachable ({exc}); is `make run` (or `make up`) running?"
        ) from None


def members(admin: KafkaAdminClient, group: str) -> int:
    described = admin.describe_groups([group]).get(group, {})
    return len(described.get("members") or [])


def _offsets(admin: KafkaAdminClient, tps: list[TopicPartition], spec: OffsetSpec) -> dict[TopicPartition, int]:
    found = admin.list_partition_offsets(dict.fromkeys(tps, spec))
    return {tp: int(v.offset) for tp, v in found.items()}


def committed(admin: KafkaAdminClient, group: str) -> dict[TopicPartition, int]:
    offsets = admin.list_group_offsets({group: None}).get(group, {})
    return {tp: int(m.offset) for tp, m in offsets.items() if m.offset is not None and m.offset >= 0}


def reset_to_earliest(bootstrap: str, service: str, topic_prefix: str = "") -> ReplayPlan:
    """Rewinds the stopped worker's consumer group to the earliest retained offsets."""
    group = group_id(service, topic_prefix)
    admin = _admin(bootstrap)
    try:
        if n := members(admin, group):
            raise ReplayError(
                f"the {service} worker is running ({n} member(s) in consumer group {group!r}): stop it first; "
                "Kafka only moves the offsets of a group without members"
            )
        previous = committed(admin, group)
        if not previous:
            raise ReplayError(
                f"consumer group {group!r} has committed nothing: the {service} worker has not run yet "
                "(it starts from the earliest offset on its own)"
            )
        tps = sorted(previous)
        results = admin.reset_group_offsets(group, dict.fromkeys(tps, OffsetSpec.EARLIEST))
        failed = {tp: r["error"] for tp, r in results.items() if r["error"].__name__ != "NoError"}
        if failed:
            raise ReplayError(f"Kafka refused the reset of {len(failed)} partition(s): {next(iter(failed.values()))}")
        start = {tp: int(r["offset"]) for tp, r in results.items()}
        end = _offsets(admin, tps, OffsetSpec.LATEST)
        return ReplayPlan(group, start, end, previous)
    except KafkaError as exc:
        raise ReplayError(f"Kafka error while resetting {group!r}: {exc}") from None
    finally:
        admin.close()


def follow(
    bootstrap: str,
    plan: ReplayPlan,
    on_progress: Callable[[int, int, int], None],
    timeout: float = 600.0,
    poll_seconds: float = 1.0,
) -> bool:
    """Polls the group's committed offsets until it has caught up with the end offsets taken at
    reset time; `on_progress(done, total, members)`. True when caught up within `timeout`."""
    admin = _admin(bootstrap)
    deadline = time.monotonic() + timeout
    try:
        while True:
            now = committed(admin, plan.group)
            done = sum(
                min(max(now.get(tp, plan.start[tp]) - plan.start[tp], 0), plan.end[tp] - plan.start[tp])
                for tp in plan.start
            )
            on_progress(done, plan.total, members(admin, plan.group))
            if done >= plan.total:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(poll_seconds)
    except KafkaError as exc:
        raise ReplayError(f"Kafka error while following {plan.group!r}: {exc}") from None
    finally:
        admin.close()
