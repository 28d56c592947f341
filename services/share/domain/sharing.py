"""Pure rules about who may share what, and what a share says about its wording."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class AudienceRule:
    teams: frozenset[str]
    locations: frozenset[str]
    languages: frozenset[str]
    roles: frozenset[str]


@dataclass(frozen=True)
class AdvocateTraits:
    team: str
    location: str
    language: str
    role: str


def in_audience(advocate: AdvocateTraits, audience: AudienceRule) -> bool:
    """An empty dimension means everyone; otherwise the advocate's value must be listed."""
    checks = (
        (audience.teams, advocate.team),
        (audience.locations, advocate.location),
        (audience.languages, advocate.language),
        (audience.roles, advocate.role),
    )
    return all(not allowed or value in allowed for allowed, value in checks)


class NotShareable(Exception):
    """The item exists but this advocate may not share it now; the message says why."""


def check_shareable(
    *, published: bool, expires_at: datetime | None, now: datetime, advocate: AdvocateTraits, audience: AudienceRule
) -> None:
    if not published:
        raise NotShareable("the item is not published")
    if expires_at is not None and expires_at <= now:
        raise NotShareable("the item has expired")
    if not in_audience(advocate, audience):
        raise NotShareable("the advocate is not in the item's audience")


def _normalize(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def is_personal_wording(message: str, suggested_texts: list[str]) -> bool:
    """Personal wording = a non-empty message that is not one of the suggested texts
    (ignoring case, Unicode form and whitespace, so a re-typed copy still counts as a copy)."""
    normalized = _normalize(message)
    if not normalized:
        return False
    return all(normalized != _normalize(t) for t in suggested_texts)


def share_id_for(advocate_id: str, idempotency_key: str) -> str:
    """The id of the share an advocate records under a client key: a retry with the same key names
    the same share, so storing it under this `_id` makes the database enforce one share per key
    (and a retry finds it with one `_id` read). 128 bits of SHA-256: collisions are not a concern.
    The share's tracked code is the same string, so a click finds its share by `_id` too."""
    return hashlib.sha256(f"share\0{advocate_id}\0{idempotency_key}".encode()).hexdigest()[:32]


class LessonsMissing(Exception):
    """The item's campaign requires lessons this advocate has not completed (in the order required)."""

    def __init__(self, lesson_ids: list[str]) -> None:
        self.lesson_ids = lesson_ids
        super().__init__(
            f"content_id: the item's campaign requires lessons not completed yet: {', '.join(lesson_ids)} "
            "(a lesson completed a moment ago counts within seconds; retry then)"
        )
