"""Use case: poll one feed source once, and say what the source's status is afterwards.

A conditional request (If-None-Match / If-Modified-Since from the last successful poll); 304 or
an unchanged feed creates nothing. New validators are stored only when every entry was written,
so a poll that failed half way is repeated in full (the entries already written are refused as
duplicates). Any failure (unreachable, refused, too large, not a feed, database) becomes the
source's last error and backs it off; it never propagates to the other sources.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from advocacy.content.v1.content_pb2 import FeedSource, SourceStatus

from services.common.events import to_timestamp
from services.common.logging import get_logger
from services.content.app.feed_items import FeedItemWriter
from services.content.app.ports import Fetcher, ParseFeed
from services.content.domain.sources import MAX_ENTRIES_PER_POLL, UnusableEntry, next_poll

log = get_logger(__name__)

NEW_ITEMS, UNCHANGED, NOT_MODIFIED, ERROR = "new_items", "unchanged", "not_modified", "error"


@dataclass(frozen=True)
class PollResult:
    status: SourceStatus
    outcome: str
    created: int
    skipped: int = 0


def conditional_headers(status: SourceStatus) -> dict[str, str]:
    headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"}
    if status.etag:
        headers["If-None-Match"] = status.etag
    if status.last_modified:
        headers["If-Modified-Since"] = status.last_modified
    return headers


class FeedPolling:
    def __init__(
        self, fetcher: Fetcher, parse: ParseFeed, writer: FeedItemWriter, max_bytes: int, max_backoff_seconds: float
    ) -> None:
        self._fetcher = fetcher
        self._parse = parse
        self._writer = writer
        self._max_bytes = max_bytes
        self._max_backoff = max_backoff_seconds

    async def poll(self, source: FeedSource, status: SourceStatus, now: datetime) -> PollResult:
        after = SourceStatus()
        after.CopyFrom(status)
        after.last_poll_at.CopyFrom(to_timestamp(now))
        try:
            outcome, created, skipped = await self._fetch_and_write(source, status, after, now)
        except Exception as exc:  # any failure of this source is its own: recorded, backed off
            after.last_error = f"{getattr(exc, 'kind', type(exc).__name__)}: {exc}"[:1000]
            after.consecutive_failures = status.consecutive_failures + 1
            after.next_poll_at.CopyFrom(to_timestamp(self._next(source, now, after.consecutive_failures)))
            log.warning("source_poll_failed", source_id=source.source_id, error=after.last_error)
            return PollResult(after, ERROR, 0)
        after.last_error = ""
        after.consecutive_failures = 0
        after.last_success_at.CopyFrom(to_timestamp(now))
        after.items_created = status.items_created + created
        after.next_poll_at.CopyFrom(to_timestamp(self._next(source, now, 0)))
        return PollResult(after, outcome, created, skipped)

    def _next(self, source: FeedSource, now: datetime, failures: int) -> datetime:
        return next_poll(now, source.poll_interval_seconds, failures, self._max_backoff)

    async def _fetch_and_write(
        self, source: FeedSource, status: SourceStatus, after: SourceStatus, now: datetime
    ) -> tuple[str, int, int]:
        response = await self._fetcher.get(source.url, self._max_bytes, conditional_headers(status))
        if response.status == 304:
            return NOT_MODIFIED, 0, 0
        content_type = response.headers.get("Content-Type", "")
        entries = await asyncio.to_thread(self._parse, response.body, response.url, content_type)
        created = skipped = 0
        # Oldest first (feeds list newest first), so publication order follows the feed's.
        for entry in reversed(entries[:MAX_ENTRIES_PER_POLL]):
            try:
                created += await self._writer.write(source, entry, now)
            except UnusableEntry as exc:
                skipped += 1
                log.info("source_entry_skipped", source_id=source.source_id, reason=str(exc)[:300])
        after.etag = response.headers.get("ETag", "")
        after.last_modified = response.headers.get("Last-Modified", "")
        return (NEW_ITEMS if created else UNCHANGED), created, skipped
