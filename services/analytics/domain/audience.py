"""Who an item is for, and who was enrolled when."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Period:
    enrolled_at: datetime
    left_at: datetime | None  # None: still enrolled


def enrolled_during(periods: Sequence[Period], start: datetime | None, end: datetime | None) -> bool:
    """True when some enrolment period overlaps [start, end) (None = unbounded on that side)."""
    for p in periods:
        starts_before_end = end is None or p.enrolled_at < end
        ends_after_start = start is None or p.left_at is None or p.left_at > start
        if starts_before_end and ends_after_start:
            return True
    return False


@dataclass(frozen=True)
class AudienceRule:
    """An empty list on a dimension means everyone."""

    teams: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()

    def includes(self, team: str, location: str, language: str, role: str) -> bool:
        return (
            (not self.teams or team in self.teams)
            and (not self.locations or location in self.locations)
            and (not self.languages or language in self.languages)
            and (not self.roles or role in self.roles)
        )
