"""Pure rules of an advocate's own post: the URL it may link to, and the synthetic content id that
makes the same URL posted again on the same network a repeat, as for company items."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit, urlunsplit

# Content ids of company items are 32 hex digits; no item id has a ':' (services/content).
OWN_PREFIX = "own:"
MAX_URL = 2000


class InvalidOwnUrl(ValueError):
    """The URL an own post names cannot be linked to; the message says why."""


def check_own_url(url: str) -> str:
    """The URL when an own post may link to it: absolute http(s) with a host, at most MAX_URL
    characters, no whitespace or control characters (the redirect sends it as a Location header)."""
    if not url:
        raise InvalidOwnUrl("url: required")
    if len(url) > MAX_URL:
        raise InvalidOwnUrl(f"url: at most {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise InvalidOwnUrl("url: no whitespace or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a port out of range)
    except ValueError as exc:
        raise InvalidOwnUrl(f"url: not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidOwnUrl("url: must be an absolute http(s) URL")
    return url


def normalise_url(url: str) -> str:
    """The URL as the same page: scheme and host lower-cased, the default port, an empty path ("/")
    and the fragment (never sent to the server) dropped; path and query kept as they are."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    if parts.username or parts.password:
        host = f"{parts.netloc.rsplit('@', 1)[0]}@{host}"
    return urlunsplit((scheme, host, parts.path or "/", parts.query, ""))


def own_post_content_id(advocate_id: str, url: str) -> str:
    """ "own:" + 24 hex digits of SHA-256 over (advocate, normalised URL): the same advocate posting
    the same page gets the same id (a repeat on the same network); another advocate's post of the
    page is another id (an own post is the advocate's, not a shared item)."""
    digest = hashlib.sha256(f"own\0{advocate_id}\0{normalise_url(url)}".encode()).hexdigest()
    return OWN_PREFIX + digest[:24]
