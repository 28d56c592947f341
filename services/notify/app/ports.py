"""What delivery needs from the outside world: a renderer of templates and the channels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.notify.domain.notification import ChannelName, Notification


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str  # empty for channels without HTML
    unsubscribe_url: str  # one-click unsubscribe (RFC 8058) for this advocate
    language: str = ""  # the templates' language actually used, after fallback (e.g. "fi" for "fi-FI")


class TransientDeliveryError(Exception):
    """The channel could not take the message now (server down, 5xx, timeout): retry with backoff."""

    def __init__(self, message: str, *, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        # What the receiver asked for (HTTP `Retry-After` on a 429/503): wait at least this long.
        self.retry_after_seconds = retry_after_seconds


class PermanentDeliveryError(Exception):
    """The message can never be delivered as it is (bad address, 4xx other than 408/429): dead-letter it."""


class Renderer(Protocol):
    def render(self, notification: Notification, channel: ChannelName, unsubscribe_url: str) -> RenderedMessage: ...


class Channel(Protocol):
    name: ChannelName

    async def send(self, notification: Notification, message: RenderedMessage, address: str) -> None:
        """Delivers or raises TransientDeliveryError / PermanentDeliveryError. `address` is the email
        address or webhook URL the advocate's preferences give for this channel (unused by the topic)."""
        ...
