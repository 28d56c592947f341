"""Prometheus metrics shared by every service: one registry, one /metrics endpoint per process.

Names follow Prometheus conventions: `advocacy_` prefix, base units, explicit buckets,
and bounded label values (method names, topics, status codes; never an advocate id).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

GRPC_HANDLED = Counter(
    "advocacy_grpc_server_handled_total",
    "gRPC calls completed on the server, by method and status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
)
GRPC_HANDLING_SECONDS = Histogram(
    "advocacy_grpc_server_handling_seconds",
    "Time to handle a gRPC call on the server.",
    ["grpc_service", "grpc_method"],
    buckets=LATENCY_BUCKETS,
)
EVENTS_PRODUCED = Counter("advocacy_events_produced_total", "Events acknowledged by Kafka, by topic.", ["topic"])
EVENTS_CONSUMED = Counter("advocacy_events_consumed_total", "Events processed by a consumer, by topic.", ["topic"])
EVENTS_DEAD_LETTERED = Counter(
    "advocacy_events_dead_lettered_total",
    "Events that could not be decoded or validated and went to the topic's DLQ.",
    ["topic", "reason"],
)
EVENT_PROCESSING_SECONDS = Histogram(
    "advocacy_event_processing_seconds",
    "Time to process one consumed event (or one batch, per event).",
    ["topic"],
    buckets=LATENCY_BUCKETS,
)
CONSUMER_LAG = Gauge(
    "advocacy_consumer_lag_messages",
    "Messages in a partition not yet processed and committed by this worker (end offset - committed).",
    ["topic", "partition"],
)
STREAM_BATCH_RETRIES = Counter(
    "advocacy_stream_batch_retries_total",
    "Failed attempts to process a batch (or event) that are retried in place, by agent.",
    ["agent"],
)
STREAM_OUT_OF_ORDER = Counter(
    "advocacy_stream_out_of_order_total",
    "Events delivered ahead of an unprocessed event of their partition: held back, and the "
    "partition fetched again from the first unprocessed offset, by agent.",
    ["agent"],
)
SKIPPED_ACKS_REFUSED = Counter(
    "advocacy_stream_skipped_acks_refused_total",
    "Acknowledgements Faust gave events it skipped (fetched during a rebalance or recovery) that "
    "were not recorded, so their offsets are not committed before they are processed.",
)
STREAM_READY = Gauge(
    "advocacy_stream_ready",
    "1 once the stream worker has recovered its tables and runs its agents, else 0.",
)
OUTBOX_BACKLOG = Gauge(
    "advocacy_outbox_backlog_events", "Events written to an outbox and not yet acknowledged by Kafka.", ["collection"]
)
OUTBOX_OLDEST_AGE = Gauge(
    "advocacy_outbox_oldest_age_seconds", "Age of the oldest event still waiting in an outbox.", ["collection"]
)


def serve_metrics(port: int, host: str = "0.0.0.0") -> None:
    """Starts the /metrics HTTP endpoint in a daemon thread (port 0 disables it)."""
    if port:
        start_http_server(port, addr=host)
