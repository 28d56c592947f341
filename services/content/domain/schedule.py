"""When an item changes state by itself (pure).

- An APPROVED item with a `publish_at` that has passed publishes itself. Approving an item that
  has a `publish_at` therefore schedules it; `Publish` on such an item before its time is an
  idempotent "yes, scheduled" (it stays APPROVED), after its time it publishes at once.
- A PUBLISHED item whose `expires_at` has passed expires itself.
"""

from __future__ import annotations

from datetime import datetime

from services.content.domain.lifecycle import Action, Status


def due_action(
    status: Status, publish_at: datetime | None, expires_at: datetime | None, now: datetime
) -> Action | None:
    if status is Status.APPROVED and publish_at is not None and publish_at <= now:
        return Action.PUBLISH
    if status is Status.PUBLISHED and expires_at is not None and expires_at <= now:
        return Action.EXPIRE
    return None


def publish_is_scheduled(publish_at: datetime | None, now: datetime) -> bool:
    """`Publish` before the item's publish_at only confirms the schedule."""
    return publish_at is not None and publish_at > now
