"""Delivery decisions for one planned notification: skip, wait, or send on which channels.

Nothing here drops a message the advocate wants: quiet hours and the rate limit only delay."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.notify.domain.notification import ChannelName, Kind
from services.notify.domain.preferences import Preferences, quiet_until


@dataclass(frozen=True)
class Skip:
    reason: str  # "opted_out", "kind_disabled", "no_channel", ...


@dataclass(frozen=True)
class Wait:
    until: datetime
    reason: str  # "quiet_hours", "rate_limited"


@dataclass(frozen=True)
class Send:
    channels: Mapping[ChannelName, str]


Decision = Skip | Wait | Send


@dataclass
class RateLimiter:
    """At most `per_hour` messages per advocate in any sliding hour (a message counts once, whatever
    its number of channels)."""

    per_hour: int
    _sent: dict[str, deque[datetime]] = field(default_factory=dict)

    def next_slot(self, advocate_id: str, now: datetime) -> datetime | None:
        """None when a message may go now, else when the oldest message of the hour leaves it."""
        sent = self._sent.get(advocate_id)
        if not sent:
            return None
        while sent and sent[0] <= now - timedelta(hours=1):
            sent.popleft()
        if len(sent) < self.per_hour:
            return None
        return sent[0] + timedelta(hours=1)

    def record(self, advocate_id: str, at: datetime) -> None:
        self._sent.setdefault(advocate_id, deque()).append(at)


def decide(
    prefs: Preferences, kind: Kind, timezone: str, now: datetime, limiter: RateLimiter, advocate_id: str
) -> Decision:
    if prefs.opted_out:
        return Skip("opted_out")
    if kind not in prefs.kinds:
        return Skip("kind_disabled")
    if not prefs.channels:
        return Skip("no_channel")
    quiet = quiet_until(prefs, now, timezone)
    if quiet is not None:
        return Wait(quiet, "quiet_hours")
    slot = limiter.next_slot(advocate_id, now)
    if slot is not None:
        return Wait(slot, "rate_limited")
    return Send(prefs.channels)


def backoff_seconds(attempt: int, initial: float, maximum: float) -> float:
    """Exponential: initial, 2x, 4x ... capped (attempt counts from 1)."""
    return float(min(maximum, initial * 2 ** max(attempt - 1, 0)))
