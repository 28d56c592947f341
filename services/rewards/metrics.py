"""The rewards service's redemption metrics (bounded labels only: outcomes)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

REDEMPTIONS = Counter(
    "advocacy_rewards_redemptions_total",
    "Redemption requests by outcome (redeemed, repeated, out_of_stock, insufficient_points, unknown_item, timed_out).",
    ["outcome"],
)
REDEMPTIONS_PENDING = Gauge(
    "advocacy_rewards_redemptions_pending", "Redeem calls of this replica waiting for the award agent's outcome."
)
REDEMPTIONS_PENDING_AGE = Gauge(
    "advocacy_rewards_redemption_pending_oldest_age_seconds",
    "How long the oldest Redeem call of this replica has waited for its outcome (0 when none).",
)


def count_redemption(outcome: str) -> None:
    REDEMPTIONS.labels(outcome).inc()


def report_pending(waiting: int, oldest_age_seconds: float) -> None:
    REDEMPTIONS_PENDING.set(waiting)
    REDEMPTIONS_PENDING_AGE.set(oldest_age_seconds)
