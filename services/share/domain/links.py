"""Pure rules of tracked links: the redirect target, the actor fingerprint, bots, and the
30-minute unique-click window."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from advocacy.common.v1.common_pb2 import Network
from crawleruseragents import is_crawler

# Tracked codes are share ids (32 hex characters; 12-character `token_urlsafe(9)` codes before
# that); anything else is not ours.
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content")


def network_source(network: int) -> str:
    """`NETWORK_LINKEDIN` -> `linkedin`: the utm_source value."""
    return Network.Name(network).removeprefix("NETWORK_").lower()


def target_url(item_url: str, *, network: int, campaign_id: str, content_id: str, share_id: str) -> str:
    """The item's URL with UTM parameters (ours replace any the item's URL already had)."""
    parts = urlsplit(item_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in UTM_KEYS]
    query += [
        ("utm_source", network_source(network)),
        ("utm_medium", "advocacy"),
        ("utm_campaign", campaign_id or content_id),
        ("utm_content", share_id),
    ]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def fingerprint(salt: str, client_ip: str, user_agent: str) -> str:
    """Salted SHA-256 of the client: stable enough to de-duplicate, never the raw identity."""
    return hashlib.sha256(f"{salt}\n{client_ip}\n{user_agent}".encode()).hexdigest()


# Clients that are not people even when crawler-user-agents does not list them (it covers the
# named crawlers; empty agents and generic HTTP libraries are ours to add).
_EXTRA_BOT_PATTERN = re.compile(r"(?i)^$|^-$|headless|preview|unfurl|\bbot\b|spider|crawl")


def is_bot(user_agent: str) -> bool:
    ua = user_agent.strip()
    return bool(_EXTRA_BOT_PATTERN.search(ua)) or is_crawler(ua)


@dataclass(frozen=True)
class ClickClass:
    is_bot: bool
    is_self: bool

    @property
    def counts(self) -> bool:
        return not (self.is_bot or self.is_self)

    @property
    def outcome(self) -> str:
        return "bot" if self.is_bot else "self" if self.is_self else "counted"


def classify(*, user_agent: str, actor_fingerprint: str, sharer_fingerprint: str) -> ClickClass:
    return ClickClass(
        is_bot=is_bot(user_agent),
        is_self=bool(sharer_fingerprint) and actor_fingerprint == sharer_fingerprint,
    )


def window_open(last_at: datetime | None, now: datetime, window: timedelta) -> bool:
    """True when a click at `now` starts a new window (the previous one is at least `window` old).
    The adapter decides the same with one conditional write, so concurrent clicks cannot both win."""
    return last_at is None or last_at <= now - window
