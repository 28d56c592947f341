"""The notify service's own Prometheus metrics (bounded labels: channel, kind, outcome, reason)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SENT = Counter(
    "advocacy_notify_sent_total",
    "Notification deliveries per channel by outcome: sent, retry, dead, skipped",
    ["channel", "kind", "outcome"],
)
SKIPPED = Counter(
    "advocacy_notify_skipped_total",
    "Notifications not sent at all, by reason (opted_out, kind_disabled, already_shared, ...)",
    ["kind", "reason"],
)
DELAYED = Counter("advocacy_notify_delayed_total", "Notifications put off by quiet hours or the rate limit", ["reason"])
PLANNED = Counter("advocacy_notify_planned_total", "Notifications newly queued by kind", ["kind"])
PENDING = Gauge("advocacy_notify_pending", "Notifications queued and not finished")
QUEUE_AGE = Gauge(
    "advocacy_notify_queue_age_seconds", "How long the oldest due notification has waited past its due time"
)
