"""Slack-compatible and Microsoft Teams incoming webhooks over one shared aiohttp session.

The advocate's webhook URL is the address. Slack gets `{"text", "blocks"}` (mrkdwn, already escaped
by the renderer); Teams gets an Adaptive Card in a `message` envelope, the form Teams' Workflows
webhooks take (classic connector URLs accept it too). Answers: 2xx delivered; 408, 429 and 5xx,
connection errors and timeouts are transient (with the receiver's Retry-After when it gave one);
any other answer (4xx, a redirect) means the URL will not take it: permanent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from yarl import URL

from services.notify.app.ports import PermanentDeliveryError, RenderedMessage, TransientDeliveryError
from services.notify.config import WebhookSettings
from services.notify.domain.notification import ChannelName, Notification

RETRYABLE_STATUSES = frozenset({408, 429})
# Slack refuses a section text over 3000 characters; the plain `text` fallback is kept whole.
SLACK_SECTION_LIMIT = 3000


def webhook_session(settings: WebhookSettings) -> aiohttp.ClientSession:
    """The one session both webhook channels share (its connection pool), closed by the caller."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=settings.timeout_seconds))


def checked_url(address: str) -> URL:
    try:
        url = URL(address.strip())
    except (ValueError, TypeError) as exc:
        raise PermanentDeliveryError(f"not a URL: {address!r}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise PermanentDeliveryError(f"webhook URL must be http(s): {address!r}")
    return url


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date (RFC 9110 10.2.3); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def classify_status(status: int, retry_after: str | None, body: str) -> None:
    """Returns on 2xx; raises the delivery error the answer means otherwise."""
    if 200 <= status < 300:
        return
    detail = f"webhook answered {status}: {body[:200]}"
    if status in RETRYABLE_STATUSES or status >= 500:
        raise TransientDeliveryError(detail, retry_after_seconds=retry_after_seconds(retry_after))
    raise PermanentDeliveryError(detail)


def slack_payload(message: RenderedMessage) -> dict[str, Any]:
    subject = message.subject.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {
        "text": f"*{subject}*\n{message.text}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": message.subject[:150], "emoji": True}},
            {"type": "section", "text": {"type": "mrkdwn", "text": message.text[:SLACK_SECTION_LIMIT]}},
        ],
    }


def teams_payload(message: RenderedMessage) -> dict[str, Any]:
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": message.subject, "weight": "Bolder", "size": "Medium", "wrap": True},
            {"type": "TextBlock", "text": message.text, "wrap": True},
        ],
    }
    return {
        "type": "message",
        "summary": message.subject,
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}],
    }


async def post_json(
    session: aiohttp.ClientSession, address: str, payload: dict[str, Any], limit: aiohttp.ClientTimeout
) -> None:
    url = checked_url(address)
    try:
        # No redirects: a webhook that moved is the advocate's to fix, and a POST must not turn into a GET.
        async with session.post(url, json=payload, allow_redirects=False, timeout=limit) as response:
            body = await response.text(errors="replace")
            classify_status(response.status, response.headers.get("Retry-After"), body)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TransientDeliveryError(f"webhook unreachable: {type(exc).__name__}: {exc}") from exc


class WebhookChannel:
    """One kind of incoming webhook: its channel name and how a message becomes its JSON body."""

    def __init__(
        self,
        name: ChannelName,
        payload: Callable[[RenderedMessage], dict[str, Any]],
        session: aiohttp.ClientSession,
        settings: WebhookSettings,
    ) -> None:
        self.name = name
        self._payload = payload
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout_seconds)

    async def send(self, notification: Notification, message: RenderedMessage, address: str) -> None:
        await post_json(self._session, address, self._payload(message), self._timeout)


def slack_channel(session: aiohttp.ClientSession, settings: WebhookSettings) -> WebhookChannel:
    return WebhookChannel(ChannelName.SLACK, slack_payload, session, settings)


def teams_channel(session: aiohttp.ClientSession, settings: WebhookSettings) -> WebhookChannel:
    return WebhookChannel(ChannelName.TEAMS, teams_payload, session, settings)
