"""The content service's own Prometheus metrics (bounded labels only: outcomes, never a source id or URL)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SOURCE_POLLS = Counter(
    "advocacy_content_source_polls_total",
    "Feed source polls by this replica: new_items, unchanged, not_modified (304) or error.",
    ["outcome"],
)
SOURCE_ITEMS = Counter("advocacy_content_source_items_created_total", "Content items created from feed entries.")
SOURCE_FAILING_SECONDS = Gauge(
    "advocacy_content_source_failing_seconds",
    "How long the longest-failing active source has been failing (0 when every source's last poll succeeded).",
)
PREVIEW_FETCHES = Counter(
    "advocacy_content_preview_fetches_total",
    "Link preview reads: read, empty, not_html, refused, timeout, too_large, http, unreachable, dropped (queue full).",
    ["outcome"],
)
SCHEDULED_TRANSITIONS = Counter(
    "advocacy_content_scheduled_transitions_total",
    "Items this replica published or expired on schedule (claims lost to another replica are not counted).",
    ["action"],
)
