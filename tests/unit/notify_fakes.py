"""In-memory fakes of the notify service's stores, renderer and channels (unit tests only)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from services.notify.app.ports import PermanentDeliveryError, RenderedMessage, TransientDeliveryError
from services.notify.app.stores import Queued
from services.notify.domain.notification import ChannelName, Notification
from services.notify.domain.planning import Planned
from services.notify.domain.preferences import Preferences


class Clock:
    def __init__(self, now: datetime = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class FakeStore:
    queue: dict[str, Queued] = field(default_factory=dict)
    done: dict[str, str] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)

    async def enqueue(self, planned: Sequence[Planned]) -> list[Queued]:
        new = []
        for p in planned:
            if p.notification_id not in self.queue:
                q = Queued(p.notification_id, p.kind, p.advocate_id, p.due_at, p.due_at, dict(p.data), {})
                self.queue[p.notification_id] = q
                new.append(q)
        return new

    async def queued(self, notification_id: str) -> Queued | None:
        return self.queue.get(notification_id)

    async def all_queued(self) -> list[Queued]:
        return list(self.queue.values())

    async def reschedule(self, notification_id: str, due_at: datetime, attempts: Mapping[str, int]) -> None:
        self.queue[notification_id] = replace(self.queue[notification_id], due_at=due_at, attempts=dict(attempts))

    async def finished(self, notification_id: str) -> bool:
        return notification_id in self.done

    async def finish(self, queued: Queued, outcome: str, reason: str, at: datetime) -> None:
        self.done.setdefault(queued.notification_id, f"{outcome}:{reason}" if reason else outcome)
        self.queue.pop(queued.notification_id, None)

    async def channel_state(self, notification_id: str, channel: ChannelName) -> str | None:
        return self.channels.get(f"{notification_id}/{channel.value}")

    async def set_channel_state(self, notification_id: str, channel: ChannelName, state: str, at: datetime) -> None:
        self.channels.setdefault(f"{notification_id}/{channel.value}", state)


@dataclass
class FakePreferencesStore:
    own_prefs: dict[str, Preferences] = field(default_factory=dict)
    company: Preferences | None = None

    async def own(self, advocate_id: str) -> Preferences | None:
        return self.own_prefs.get(advocate_id)

    async def save(self, advocate_id: str, prefs: Preferences) -> None:
        self.own_prefs[advocate_id] = prefs

    async def company_defaults(self) -> Preferences | None:
        return self.company

    async def save_company_defaults(self, prefs: Preferences) -> None:
        self.company = prefs


class FakeRenderer:
    def render(self, notification: Notification, channel: ChannelName, unsubscribe_url: str) -> RenderedMessage:
        return RenderedMessage(
            f"{notification.kind.value} for {notification.recipient.display_name}",
            repr(dict(notification.data)),
            "",
            unsubscribe_url,
        )


@dataclass
class FakeChannel:
    name: ChannelName
    sent: list[tuple[str, str, RenderedMessage]] = field(default_factory=list)
    # Raised by the next sends, one each, before sending succeeds again.
    failures: list[Exception] = field(default_factory=list)
    down: bool = False

    async def send(self, notification: Notification, message: RenderedMessage, address: str) -> None:
        if self.down:
            raise TransientDeliveryError("connection refused")
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((notification.notification_id, address, message))


@dataclass
class FakeDeadLetters:
    letters: list[tuple[str, str, str]] = field(default_factory=list)

    async def dead_letter(self, notification: Notification, channel: ChannelName, reason: str, error: str) -> None:
        self.letters.append((notification.notification_id, channel.value, reason))


__all__ = ["PermanentDeliveryError", "TransientDeliveryError"]
