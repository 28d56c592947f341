"""An advocate's notification settings, validated, and what they decide about one message."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.notify.domain.notification import ChannelName, Kind


class DigestFrequency(StrEnum):
    OFF = "off"
    DAILY = "daily"
    WEEKLY = "weekly"


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MAX_ADDRESS = 2000


@dataclass(frozen=True)
class Preferences:
    # Enabled channels -> address (email address, webhook URL; "" for the topic).
    channels: Mapping[ChannelName, str] = field(default_factory=lambda: {ChannelName.TOPIC: ""})
    kinds: frozenset[Kind] = frozenset(Kind)
    digest: DigestFrequency = DigestFrequency.WEEKLY
    # Local times; equal (or unset) means no quiet hours. Start > end spans midnight (22:00-07:00).
    quiet_start: time | None = None
    quiet_end: time | None = None
    opted_out: bool = False

    def opt_out(self) -> Preferences:
        return replace(self, opted_out=True)


# What an advocate without their own settings gets when the company set no defaults either:
# the topic only (the intranet / app shows it), never an email nobody asked for.
BUILT_IN = Preferences()


def parse_local_time(value: str, field_name: str) -> time | None:
    if not value:
        return None
    match = _HHMM.match(value)
    if not match:
        raise ValueError(f"{field_name}: expected HH:MM (00:00-23:59), got {value!r}")
    return time(int(match.group(1)), int(match.group(2)))


def validate_address(channel: ChannelName, address: str) -> None:
    if len(address) > MAX_ADDRESS:
        raise ValueError(f"channels.{channel.value}: address longer than {MAX_ADDRESS} characters")
    if channel is ChannelName.EMAIL and not _EMAIL.match(address):
        raise ValueError(f"channels.email: {address!r} is not an email address")
    if channel in (ChannelName.SLACK, ChannelName.TEAMS) and not address.startswith(("https://", "http://")):
        raise ValueError(f"channels.{channel.value}: webhook URL must start with https:// (or http://)")


def validated(prefs: Preferences) -> Preferences:
    for channel, address in prefs.channels.items():
        validate_address(channel, address)
    if (prefs.quiet_start is None) != (prefs.quiet_end is None):
        raise ValueError("quiet_hours: give both start and end, or neither")
    return prefs


def quiet_until(prefs: Preferences, now: datetime, timezone: str) -> datetime | None:
    """The end of the quiet hours `now` falls in (UTC), or None when messages may go now."""
    start, end = prefs.quiet_start, prefs.quiet_end
    if start is None or end is None or start == end:
        return None
    local = now.astimezone(zone(timezone))
    t = local.time().replace(tzinfo=None)
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return None
    release = datetime.combine(local.date(), end, tzinfo=local.tzinfo)
    if release <= local:
        release += timedelta(days=1)
    # Wall-clock arithmetic (across a DST change the local end time is what counts).
    return datetime.combine(release.date(), end, tzinfo=local.tzinfo).astimezone(now.tzinfo)


def zone(name: str) -> ZoneInfo:
    """The advocate's zone; an unknown or empty name is UTC (a profile typo must not stop messages)."""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
