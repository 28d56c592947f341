"""What planning and delivery need besides channels: the queue of planned notifications, their
delivery records, preferences, and the views of advocates, items and awards."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from services.notify.domain.notification import ChannelName, Kind, Notification
from services.notify.domain.planning import Advocate, Award, Item, Planned, ShareFact
from services.notify.domain.preferences import Preferences


@dataclass(frozen=True)
class Queued:
    """A planned notification not finished yet."""

    notification_id: str
    kind: Kind
    advocate_id: str
    due_at: datetime
    first_due_at: datetime  # the age of a message (for giving up) counts from here
    data: Mapping[str, Any] = field(default_factory=dict)
    # Failed attempts per channel so far (backoff grows with them).
    attempts: Mapping[str, int] = field(default_factory=dict)


class NotificationStore(Protocol):
    async def enqueue(self, planned: Sequence[Planned]) -> list[Queued]:
        """Queues what is not queued yet (by id); returns the newly queued."""
        ...

    async def queued(self, notification_id: str) -> Queued | None: ...

    async def all_queued(self) -> list[Queued]: ...

    async def reschedule(self, notification_id: str, due_at: datetime, attempts: Mapping[str, int]) -> None: ...

    async def finished(self, notification_id: str) -> bool:
        """Whether this id was delivered (or skipped, or dead-lettered) before."""
        ...

    async def finish(self, queued: Queued, outcome: str, reason: str, at: datetime) -> None:
        """Records the outcome first, then removes it from the queue (a crash in between is harmless:
        the record says finished)."""
        ...

    async def channel_state(self, notification_id: str, channel: ChannelName) -> str | None: ...

    async def set_channel_state(self, notification_id: str, channel: ChannelName, state: str, at: datetime) -> None: ...


class PreferencesStore(Protocol):
    async def own(self, advocate_id: str) -> Preferences | None: ...

    async def save(self, advocate_id: str, prefs: Preferences) -> None: ...

    async def company_defaults(self) -> Preferences | None: ...

    async def save_company_defaults(self, prefs: Preferences) -> None: ...


class Directory(Protocol):
    def advocate(self, advocate_id: str) -> Advocate | None: ...

    def advocates(self) -> Iterable[Advocate]: ...


class Catalog(Protocol):
    def item(self, content_id: str) -> Item | None: ...

    def items(self) -> Iterable[Item]: ...

    def withdrawn(self, content_id: str) -> bool: ...


class Activity(Protocol):
    def awards(self, advocate_id: str, start: datetime, end: datetime) -> list[Award]: ...

    def shares(self, advocate_id: str) -> list[ShareFact]: ...

    def sharers(self, content_id: str) -> set[str]: ...

    def totals(self, start: datetime, end: datetime) -> dict[str, int]: ...


class Views(Directory, Catalog, Activity, Protocol):
    def current(self) -> bool:
        """Whether every view read its topic to the end recently (else answers may be stale)."""
        ...


class DeadLetters(Protocol):
    async def dead_letter(self, notification: Notification, channel: ChannelName, reason: str, error: str) -> None: ...
