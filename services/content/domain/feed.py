"""Targeting and ranking of an advocate's personal feed (pure).

Targeting: an item's audience lists teams, locations, languages and roles; an empty list on a
dimension means everyone, a non-empty one must contain the advocate's value (compared
case-insensitively). All four dimensions must match.

Ranking: relevance = 2^(matched interests) x 2^(-age / FRESHNESS_HALF_LIFE): each topic of the
item among the advocate's interests doubles it, every half-life of age halves it. Its log2 is
`matched + published_at / half_life - now / half_life`; the last term is the same for every item,
so ranking by `score = matched + published_at_epoch / half_life` gives the same order at any
moment: a page token (the last score, published_at and content id) stays valid between pages.
Ties: newer `published_at` first, then content id ascending (deterministic).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

FRESHNESS_HALF_LIFE_SECONDS = 7 * 24 * 3600.0
# Stored for an empty audience dimension, so "everyone" matches with one $in query on both servers.
EVERYONE = "*"
DIMENSIONS = ("teams", "locations", "languages", "roles")


class InvalidPageToken(ValueError):
    pass


@dataclass(frozen=True)
class Viewer:
    """What the content service knows of an advocate (from `advocate-changed`)."""

    advocate_id: str
    team: str
    location: str
    language: str
    role: str
    interests: tuple[str, ...]
    enrolled: bool = True
    # Carried into the events the content service emits about the advocate (`lesson-completed`).
    display_name: str = ""
    leader: bool = False
    timezone: str = ""

    def dimension_values(self) -> dict[str, str]:
        return {
            "teams": self.team.casefold(),
            "locations": self.location.casefold(),
            "languages": self.language.casefold(),
            "roles": self.role.casefold(),
        }


def audience_terms(audience: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The indexed form of an audience: case-folded values, or [EVERYONE] for an empty dimension."""
    return {dim: sorted({v.casefold() for v in audience.get(dim, ())}) or [EVERYONE] for dim in DIMENSIONS}


def in_audience(audience: Mapping[str, Sequence[str]], viewer: Viewer) -> bool:
    terms = audience_terms(audience)
    values = viewer.dimension_values()
    return all(EVERYONE in terms[d] or values[d] in terms[d] for d in DIMENSIONS)


def matched_interests(topics: Iterable[str], interests: Iterable[str]) -> list[str]:
    wanted = {i.casefold() for i in interests}
    return sorted({t for t in topics if t.casefold() in wanted})


def score(matched: int, published_at: datetime) -> float:
    return matched + published_at.timestamp() / FRESHNESS_HALF_LIFE_SECONDS


@dataclass(frozen=True)
class Ranked:
    content_id: str
    score: float
    published_at_us: int  # microseconds since the epoch: exact, unlike a float
    matched: tuple[str, ...]

    def sort_key(self) -> tuple[float, int, str]:
        # Ascending sort of this key = best first.
        return (-self.score, -self.published_at_us, self.content_id)


def rank(content_id: str, topics: Iterable[str], published_at: datetime, viewer: Viewer) -> Ranked:
    matched = matched_interests(topics, viewer.interests)
    return Ranked(
        content_id=content_id,
        score=score(len(matched), published_at),
        published_at_us=int(published_at.timestamp() * 1_000_000),
        matched=tuple(matched),
    )


def page(ranked: Iterable[Ranked], page_size: int, after: tuple[float, int, str] | None) -> tuple[list[Ranked], str]:
    """One page in rank order after the token's position; returns it and the next token ("" at the end)."""
    ordered = sorted(ranked, key=Ranked.sort_key)
    if after is not None:
        ordered = [r for r in ordered if r.sort_key() > after]
    selected = ordered[:page_size]
    token = encode_token(selected[-1].sort_key()) if len(ordered) > page_size else ""
    return selected, token


def encode_token(key: tuple[float, int, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def decode_token(token: str) -> tuple[float, int, str]:
    try:
        s, p, c = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not isinstance(c, str) or not isinstance(p, int) or not isinstance(s, int | float):
            raise ValueError("bad token shape")
        return (float(s), p, c)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise InvalidPageToken("page_token: not a token this service issued") from exc
