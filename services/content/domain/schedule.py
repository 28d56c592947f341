"""When an item changes state by itself (pure).

- An APPROVED item with a `publish_at` that has passed publishes itself. Approving an item that
  has a `publish_at` therefore schedules it; `Publish` on such an item before its time is an
  idempotent "yes, scheduled" (it stays APPROVED), after its time it publishes at once.
- A PUBLISHED item whose `expires_at` has passed expires itself.
- An APPROVED item whose `expires_at` has passed expires without being published (e.g. both its
  times passed while the service was down): nobody could see it any more.
- An item whose `expires_at` has passed can be neither approved nor published: it would be
  published and expired at once (two events for an item nobody could see).
"""

from __future__ import annotations

from datetime import datetime

from services.content.domain.lifecycle import Action, Status


def due_action(
    status: Status, publish_at: datetime | None, expires_at: datetime | None, now: datetime
) -> Action | None:
    expired = expires_at is not None and expires_at <= now
    if status in (Status.APPROVED, Status.PUBLISHED) and expired:
        return Action.EXPIRE
    if status is Status.APPROVED and publish_at is not None and publish_at <= now:
        return Action.PUBLISH
    return None


def publish_is_scheduled(publish_at: datetime | None, now: datetime) -> bool:
    """`Publish` before the item's publish_at only confirms the schedule."""
    return publish_at is not None and publish_at > now


class AlreadyExpired(Exception):
    def __init__(self, action: Action, expires_at: datetime) -> None:
        super().__init__(
            f"cannot {action.value} an item that expired at {expires_at.isoformat()} (its expires_at has passed)"
        )
        self.action = action
        self.expires_at = expires_at


def refuse_if_expired(action: Action, expires_at: datetime | None, now: datetime) -> None:
    """Raises AlreadyExpired when `action` would bring an item past its expiry towards publication."""
    if action in (Action.APPROVE, Action.PUBLISH) and expires_at is not None and expires_at <= now:
        raise AlreadyExpired(action, expires_at)
