"""RSS 2.0 / Atom parsing with feedparser (which also reads RSS 0.9x/1.0 and recovers what it can
from malformed XML)."""

from __future__ import annotations

from typing import Any

from services.content.domain.sources import FeedEntry


class NotAFeed(ValueError):
    """The document is no feed (an HTML page), or XML too broken to yield any entry."""


def _images(entry: Any) -> tuple[str, ...]:
    urls: list[str] = []
    for media in list(entry.get("media_content", [])) + list(entry.get("media_thumbnail", [])):
        if media.get("url") and media.get("medium", "image") == "image":
            urls.append(media["url"])
    for enclosure in entry.get("enclosures", []):
        if str(enclosure.get("type", "")).startswith("image/") and enclosure.get("href"):
            urls.append(enclosure["href"])
    return tuple(urls)


def _summary(entry: Any) -> str:
    if entry.get("summary"):
        return str(entry["summary"])
    content = entry.get("content") or []
    return str(content[0].get("value", "")) if content else ""


def parse_feed(body: bytes, url: str, content_type: str = "") -> list[FeedEntry]:
    """The feed's entries in document order; raises NotAFeed when there is no feed to read."""
    import feedparser  # here, not at the top: it is needed only once a source is polled (start-up time)

    headers = {"content-location": url, "content-type": content_type or "application/xml"}
    parsed = feedparser.parse(body, response_headers=headers)
    # Broken XML may still "recover" entries without any identity: those count as none.
    usable = [e for e in parsed.entries if e.get("id") or e.get("link")]
    problem = f" ({parsed.get('bozo_exception')})" if parsed.bozo else ""
    if not usable and not parsed.get("version"):
        raise NotAFeed(f"not an RSS or Atom feed: no feed element found{problem}"[:500])
    if not usable and parsed.bozo:
        raise NotAFeed(f"malformed feed{problem}"[:500])
    return [
        FeedEntry(
            guid=str(entry.get("id", "")),
            link=str(entry.get("link", "")),
            title=str(entry.get("title", "")),
            summary_html=_summary(entry),
            image_urls=_images(entry),
        )
        for entry in usable
    ]
