"""A notification as the service plans it: who gets what, before any channel or language is chosen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    THANK_YOU = "thank_you"
    NEW_CONTENT = "new_content"
    LEADER_SHARED = "leader_shared"
    DIGEST = "digest"


class ChannelName(StrEnum):
    EMAIL = "email"
    SLACK = "slack"
    TEAMS = "teams"
    TOPIC = "topic"  # `notification-sent`, for apps that deliver by themselves


@dataclass(frozen=True)
class Recipient:
    advocate_id: str
    display_name: str
    language: str  # BCP 47 tag as on the advocate's profile, e.g. "fi" or "en-GB"
    timezone: str  # IANA name, e.g. "Europe/Helsinki"


@dataclass(frozen=True)
class Notification:
    """One message to one advocate. `notification_id` is deterministic (derived from what caused it),
    so a redelivered event plans the same id and is never sent twice."""

    notification_id: str
    kind: Kind
    recipient: Recipient
    created_at: datetime
    # The template context: plain JSON-able values (str, int, float, bool, lists and dicts of them).
    data: Mapping[str, Any] = field(default_factory=dict)
