"""The rewards service's internal topics (not part of the shared contract), created at start."""

from __future__ import annotations

from kafka.admin import KafkaAdminClient
from kafka.errors import TopicAlreadyExistsError

from services.common.topics import DAY_MS


def ensure_internal_topics(
    bootstrap: str, names: list[str], partitions: int, replication: int, compacted: frozenset[str] = frozenset()
) -> None:
    """Creates what is missing (blocking; run it in a thread). Faust subscribes before it would
    declare them itself, so they must exist first."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="advocacy-rewards")
    try:
        existing = set(admin.list_topics())
        for name in names:
            if name in existing:
                continue
            try:
                options = {
                    "num_partitions": partitions,
                    "replication_factor": replication,
                    # A compacted topic keeps the latest record per key for good (a view's source).
                    "configs": {"cleanup.policy": "compact"}
                    if name in compacted
                    else {"retention.ms": str(30 * DAY_MS)},
                }
                admin.create_topics({name: options}, wait_for_metadata=True)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()
