"""The rewards service's internal topics (not part of the shared contract), created at start."""

from __future__ import annotations

from kafka.admin import KafkaAdminClient

from services.common.topics import DAY_MS, create_missing, topic_configs


def ensure_internal_topics(
    bootstrap: str, names: list[str], partitions: int, replication: int, compacted: frozenset[str] = frozenset()
) -> None:
    """Creates what is missing (blocking; run it in a thread). Faust subscribes before it would
    declare them itself, so they must exist first."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="advocacy-rewards")
    try:
        options = {"num_partitions": partitions, "replication_factor": replication}
        create_missing(admin, {n: {**options, "configs": topic_configs(30 * DAY_MS, n in compacted)} for n in names})
    finally:
        admin.close()
