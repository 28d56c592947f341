"""Tumbling windows (hour, day, all-time), allowed lateness and unique-click buckets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum

CLICK_DEDUP = timedelta(minutes=30)


class Granularity(StrEnum):
    HOUR = "HOUR"
    DAY = "DAY"
    ALL_TIME = "ALL_TIME"


def window_start(at: datetime, granularity: Granularity) -> datetime:
    """Start of the UTC tumbling window holding `at` (hours and days are [start, start + size))."""
    at = at.astimezone(UTC)
    if granularity is Granularity.HOUR:
        return at.replace(minute=0, second=0, microsecond=0)
    if granularity is Granularity.DAY:
        return at.replace(hour=0, minute=0, second=0, microsecond=0)
    return datetime(1970, 1, 1, tzinfo=UTC)


WINDOW_SIZE = {Granularity.HOUR: timedelta(hours=1), Granularity.DAY: timedelta(days=1)}


def windows_between(first: datetime, end: datetime, granularity: Granularity) -> int:
    """How many windows of a windowed granularity [first, end) touches (`first` a window start)."""
    size = WINDOW_SIZE[granularity]
    return max(-(-(end - first) // size), 0)


def later(at: datetime, by: timedelta) -> datetime:
    """`at + by`, at most the largest time (a window of year 9999 ends there)."""
    try:
        return at + by
    except OverflowError:
        return datetime.max.replace(tzinfo=at.tzinfo)


def is_too_late(occurred_at: datetime, received_at: datetime, allowed_lateness: timedelta) -> bool:
    """An event is too late for its windows when it arrived (reached Kafka: the record's timestamp,
    not when a worker got to it) after the end of its hourly window plus the allowed lateness. It
    then counts in all-time figures only (and is recorded as too late), so hourly and daily figures
    that were already read stay final."""
    hour_end = window_start(occurred_at, Granularity.HOUR) + timedelta(hours=1)
    return received_at > hour_end + allowed_lateness


def click_key(share_id: str, actor_fingerprint: str, occurred_at: datetime) -> str:
    """Unique clicks: one click per actor per share per fixed 30-minute slot (UTC). Fixed slots make
    the count independent of arrival order, which a sliding "30 min since the last click" is not."""
    epoch = int(occurred_at.timestamp())
    slot = epoch - epoch % int(CLICK_DEDUP.total_seconds())
    return f"{share_id}|{actor_fingerprint}|{slot}"
