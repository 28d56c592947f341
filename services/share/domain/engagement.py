"""Pure validation of engagement reports from network webhooks, pollers and imports."""

from __future__ import annotations

from datetime import datetime, timedelta

from advocacy.share.v1.share_pb2 import EngagementKind, EngagementReport, EngagementSource

from services.common.events import optional_time
from services.common.ids import check_id

MAX_BATCH = 500
MAX_COUNT = 1_000_000_000
# The networks' own ids (their event and actor ids), not ours: they may be longer than ours.
MAX_EXTERNAL_ID = 200
MAX_COMMENT = 10_000
# Network clocks drift; a report from further in the future than this is a bug on the sender's side.
MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_AGE = timedelta(days=365)

REPORTABLE_KINDS = frozenset(
    {
        EngagementKind.ENGAGEMENT_KIND_IMPRESSION,
        EngagementKind.ENGAGEMENT_KIND_REACTION,
        EngagementKind.ENGAGEMENT_KIND_COMMENT,
        EngagementKind.ENGAGEMENT_KIND_RESHARE,
    }
)
REPORTING_SOURCES = frozenset(
    {EngagementSource.ENGAGEMENT_SOURCE_NETWORK_WEBHOOK, EngagementSource.ENGAGEMENT_SOURCE_IMPORT}
)


class InvalidReport(ValueError):
    """The message starts with the offending field, e.g. `reports[3].kind: ...`."""


def validate_report(report: EngagementReport, field: str, now: datetime) -> None:
    target = report.WhichOneof("target")
    if target is None or not getattr(report, target):
        raise InvalidReport(f"{field}.share_id: a share_id or tracked_code is required")
    check_id(getattr(report, target), f"{field}.{target}", error=InvalidReport)
    if report.kind not in REPORTABLE_KINDS:
        raise InvalidReport(
            f"{field}.kind: must be IMPRESSION, REACTION, COMMENT or RESHARE (clicks come from the link tracker)"
        )
    if not 1 <= report.count <= MAX_COUNT:
        raise InvalidReport(f"{field}.count: must be 1..{MAX_COUNT}")
    if report.source not in REPORTING_SOURCES:
        raise InvalidReport(f"{field}.source: must be NETWORK_WEBHOOK or IMPORT")
    if not report.source_event_id or len(report.source_event_id) > MAX_EXTERNAL_ID:
        raise InvalidReport(
            f"{field}.source_event_id: 1..{MAX_EXTERNAL_ID} characters (it makes the report idempotent)"
        )
    if report.comment_text and report.kind != EngagementKind.ENGAGEMENT_KIND_COMMENT:
        raise InvalidReport(f"{field}.comment_text: only for COMMENT")
    if len(report.comment_text) > MAX_COMMENT:
        raise InvalidReport(f"{field}.comment_text: at most {MAX_COMMENT} characters")
    if len(report.actor_id) > MAX_EXTERNAL_ID:
        raise InvalidReport(f"{field}.actor_id: at most {MAX_EXTERNAL_ID} characters")
    observed = optional_time(report, "observed_at")
    if observed is not None:
        if observed > now + MAX_CLOCK_SKEW:
            raise InvalidReport(f"{field}.observed_at: in the future")
        if observed < now - MAX_AGE:
            raise InvalidReport(f"{field}.observed_at: older than {MAX_AGE.days} days")


def idempotency_id(report: EngagementReport) -> str:
    """One record per (source, source event id), whatever share the report names."""
    return f"{EngagementSource.Name(report.source)}:{report.source_event_id}"
