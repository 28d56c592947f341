"""Feed sources (pure): what a source may be configured with, when it is polled next, and how one
feed entry becomes a content item.

An entry's item id is derived from (source id, entry guid or else link), so an entry seen again
(the same feed polled twice, a restart, two replicas polling at once) maps to the same id, and
inserting that id a second time is refused by the database: one item per entry, ever.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.content.domain.lifecycle import (
    MAX_LIST,
    MAX_SUMMARY,
    MAX_TITLE,
    MAX_URL,
    ContentFields,
    InvalidContent,
    validate,
)

DEFAULT_INTERVAL_SECONDS = 900
MAX_INTERVAL_SECONDS = 86_400
# A poll reads at most this many entries of a feed (feeds list their latest 10-50).
MAX_ENTRIES_PER_POLL = 200


class InvalidSource(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class SourceDefaults:
    topics: tuple[str, ...] = ()
    language: str = ""
    campaign_id: str = ""
    audience: dict[str, tuple[str, ...]] = field(default_factory=dict)
    publish_directly: bool = False


def validate_source(url: str, interval_seconds: int, defaults: SourceDefaults, min_interval_seconds: int) -> int:
    """Raises InvalidSource naming the field; returns the effective poll interval."""
    try:
        # The defaults must be what CreateContent accepts, checked on a placeholder item.
        validate(
            ContentFields(
                title="placeholder",
                summary="",
                url=url,
                topics=defaults.topics,
                suggested_texts=(),
                publish_at=None,
                expires_at=None,
                language=defaults.language,
                campaign_id=defaults.campaign_id,
                audience=defaults.audience,
            )
        )
    except InvalidContent as exc:
        name = "url" if exc.field == "url" else f"defaults.{exc.field}"
        raise InvalidSource(name, str(exc).split(": ", 1)[1]) from exc
    interval = interval_seconds or max(DEFAULT_INTERVAL_SECONDS, min_interval_seconds)
    if not min_interval_seconds <= interval <= MAX_INTERVAL_SECONDS:
        raise InvalidSource(
            "poll_interval_seconds",
            f"must be {min_interval_seconds}..{MAX_INTERVAL_SECONDS} (0 = {DEFAULT_INTERVAL_SECONDS})",
        )
    return interval


def next_poll(now: datetime, interval_seconds: float, failures: int, max_backoff_seconds: float) -> datetime:
    """After a success (failures = 0) the interval; after n failures in a row the interval
    doubled n times, capped at max_backoff_seconds (but never below the interval)."""
    delay = interval_seconds * 2 ** min(failures, 30)
    return now + timedelta(seconds=max(interval_seconds, min(delay, max_backoff_seconds)))


@dataclass(frozen=True)
class FeedEntry:
    """One entry as the feed adapter read it."""

    guid: str
    link: str
    title: str
    summary_html: str
    image_urls: tuple[str, ...] = ()


def entry_key(entry: FeedEntry) -> str:
    """What identifies an entry within its feed: its guid (RSS) / id (Atom), else its link."""
    return entry.guid.strip() or entry.link.strip()


def entry_item_id(source_id: str, key: str) -> str:
    """32 hex digits, like every content id; the same for the same (source, entry)."""
    return hashlib.sha256(f"{source_id}\x00{key}".encode()).hexdigest()[:32]


_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def plain_text(fragment: str) -> str:
    """Feed summaries are HTML fragments; an item's summary is plain text."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", fragment))).strip()


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _is_http_url(url: str) -> bool:
    return url.startswith(("http://", "https://")) and len(url) <= MAX_URL


class UnusableEntry(ValueError):
    """An entry that cannot become an item (no http(s) link); skipped and counted."""


def entry_fields(entry: FeedEntry, defaults: SourceDefaults) -> ContentFields:
    """The item an entry becomes; raises UnusableEntry when it has no usable link or identity."""
    if not _is_http_url(entry.link.strip()):
        raise UnusableEntry(f"entry {entry_key(entry)[:100]!r} has no http(s) link")
    if not entry_key(entry):
        raise UnusableEntry("entry has neither a guid nor a link")
    summary = _clip(plain_text(entry.summary_html), MAX_SUMMARY)
    title = plain_text(entry.title) or _clip(summary, MAX_TITLE) or entry.link.strip()
    fields = ContentFields(
        title=_clip(title, MAX_TITLE),
        summary=summary,
        url=entry.link.strip(),
        topics=defaults.topics,
        suggested_texts=(),
        publish_at=None,
        expires_at=None,
        media_urls=tuple(u for u in dict.fromkeys(entry.image_urls) if _is_http_url(u))[:MAX_LIST],
        language=defaults.language,
        campaign_id=defaults.campaign_id,
        audience=defaults.audience,
    )
    try:
        validate(fields)
    except InvalidContent as exc:
        raise UnusableEntry(f"entry {entry_key(entry)[:100]!r}: {exc}") from exc
    return fields


def claim_id(source_id: str, due: datetime | None, now: datetime, lease_seconds: float) -> str:
    """The poll slot replicas compete for: the source's due time, and how many lease periods have
    passed since it (so a slot whose winner died is free again one lease later)."""
    due_ms = int(due.timestamp() * 1000) if due else 0
    periods = int(max(0.0, now.timestamp() - due_ms / 1000) // lease_seconds)
    return f"{source_id}@{due_ms}/{periods}"


def failing_seconds(paused: bool, consecutive_failures: int, since: datetime, now: datetime) -> float:
    """How long an active source has failed every poll (`since`: its last success, or its creation)."""
    if paused or not consecutive_failures:
        return 0.0
    return max(0.0, (now - since).total_seconds())
