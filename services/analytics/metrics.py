"""The analytics service's own Prometheus metrics (bounded labels: topic)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

TOO_LATE = Counter(
    "advocacy_analytics_too_late_events_total",
    "Events that arrived after their windows' allowed lateness (counted in all-time figures only).",
    ["topic"],
)
DUPLICATES = Counter("advocacy_analytics_duplicate_events_total", "Redelivered events that changed nothing.", ["topic"])
UNWRITTEN_DOCUMENTS = Gauge(
    "advocacy_analytics_unwritten_documents",
    "Rollup records of this worker's partitions whose documents are behind (figures lag while > 0).",
)
