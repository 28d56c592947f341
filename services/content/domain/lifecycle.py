"""The content lifecycle as a pure state machine, and validation of what an item may contain."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlparse


class Status(StrEnum):
    DRAFT = "DRAFT"
    IN_REVIEW = "IN_REVIEW"
    APPROVED = "APPROVED"
    PUBLISHED = "PUBLISHED"
    EXPIRED = "EXPIRED"
    ARCHIVED = "ARCHIVED"
    REJECTED = "REJECTED"


class Action(StrEnum):
    SUBMIT = "submit"
    APPROVE = "approve"
    REJECT = "reject"
    PUBLISH = "publish"
    EXPIRE = "expire"
    ARCHIVE = "archive"
    EDIT = "edit"


# Which states each action may start from. Rejected items go back to draft by editing them.
_ALLOWED: dict[Action, frozenset[Status]] = {
    Action.SUBMIT: frozenset({Status.DRAFT}),
    Action.APPROVE: frozenset({Status.IN_REVIEW}),
    Action.REJECT: frozenset({Status.IN_REVIEW}),
    Action.PUBLISH: frozenset({Status.APPROVED}),
    Action.EXPIRE: frozenset({Status.APPROVED, Status.PUBLISHED}),
    Action.ARCHIVE: frozenset({Status.DRAFT, Status.APPROVED, Status.PUBLISHED, Status.EXPIRED, Status.REJECTED}),
    Action.EDIT: frozenset({Status.DRAFT, Status.REJECTED}),
}
_RESULT: dict[Action, Status] = {
    Action.SUBMIT: Status.IN_REVIEW,
    Action.APPROVE: Status.APPROVED,
    Action.REJECT: Status.REJECTED,
    Action.PUBLISH: Status.PUBLISHED,
    Action.EXPIRE: Status.EXPIRED,
    Action.ARCHIVE: Status.ARCHIVED,
    Action.EDIT: Status.DRAFT,
}


class IllegalTransition(Exception):
    def __init__(self, action: Action, current: Status) -> None:
        allowed = ", ".join(sorted(s.value for s in _ALLOWED[action]))
        super().__init__(f"cannot {action.value} an item that is {current.value} (allowed from: {allowed})")
        self.action = action
        self.current = current


def transition(current: Status, action: Action) -> Status:
    if current not in _ALLOWED[action]:
        raise IllegalTransition(action, current)
    return _RESULT[action]


class InvalidContent(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


MAX_TITLE = 200
MAX_SUMMARY = 2000
MAX_URL = 2048
MAX_TEXT = 3000
MAX_LIST = 50
MAX_SHORT = 100  # topics, language, campaign id, audience values
NETWORKS = frozenset({"NETWORK_LINKEDIN", "NETWORK_X", "NETWORK_FACEBOOK", "NETWORK_XING", "NETWORK_INSTAGRAM"})


@dataclass(frozen=True)
class ContentFields:
    title: str
    summary: str
    url: str
    topics: tuple[str, ...]
    suggested_texts: tuple[tuple[str, str], ...]  # (network name, text)
    publish_at: datetime | None
    expires_at: datetime | None
    media_urls: tuple[str, ...] = ()
    language: str = ""
    campaign_id: str = ""
    # dimension name (teams, locations, languages, roles) -> values
    audience: dict[str, tuple[str, ...]] = field(default_factory=dict)


def check_url(name: str, url: str) -> None:
    if len(url) > MAX_URL:
        raise InvalidContent(name, f"at most {MAX_URL} characters")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidContent(name, f"must be an absolute http(s) URL, got {url[:100]!r}")


def _check_short_list(name: str, values: tuple[str, ...]) -> None:
    if len(values) > MAX_LIST:
        raise InvalidContent(name, f"at most {MAX_LIST} values")
    for i, value in enumerate(values):
        if not value.strip() or len(value) > MAX_SHORT:
            raise InvalidContent(f"{name}[{i}]", f"must be 1..{MAX_SHORT} characters")


def validate(fields: ContentFields, now: datetime | None = None) -> None:
    """Raises InvalidContent naming the first bad field; with `now`, an expiry must be in the future."""
    if not fields.title.strip():
        raise InvalidContent("title", "must not be empty")
    if len(fields.title) > MAX_TITLE:
        raise InvalidContent("title", f"at most {MAX_TITLE} characters")
    if len(fields.summary) > MAX_SUMMARY:
        raise InvalidContent("summary", f"at most {MAX_SUMMARY} characters")
    check_url("url", fields.url)
    if len(fields.media_urls) > MAX_LIST:
        raise InvalidContent("media_urls", f"at most {MAX_LIST} values")
    for i, media in enumerate(fields.media_urls):
        check_url(f"media_urls[{i}]", media)
    if len(fields.topics) > MAX_LIST:
        raise InvalidContent("topics", f"at most {MAX_LIST} topics")
    _check_short_list("topics", fields.topics)
    if len(fields.language) > MAX_SHORT:
        raise InvalidContent("language", f"at most {MAX_SHORT} characters")
    if len(fields.campaign_id) > MAX_SHORT:
        raise InvalidContent("campaign_id", f"at most {MAX_SHORT} characters")
    for dimension, values in fields.audience.items():
        _check_short_list(f"audience.{dimension}", values)
    if len(fields.suggested_texts) > MAX_LIST:
        raise InvalidContent("suggested_texts", f"at most {MAX_LIST} suggested texts")
    for i, (network, text) in enumerate(fields.suggested_texts):
        if network not in NETWORKS:
            raise InvalidContent(f"suggested_texts[{i}].network", f"unknown network {network!r}")
        if not text.strip() or len(text) > MAX_TEXT:
            raise InvalidContent(f"suggested_texts[{i}].text", f"must be 1..{MAX_TEXT} characters")
    if fields.publish_at and fields.expires_at and fields.expires_at <= fields.publish_at:
        raise InvalidContent("expires_at", "must be after publish_at")
    if now and fields.expires_at and fields.expires_at <= now:
        raise InvalidContent("expires_at", "must be in the future")
