"""Delivering one queued notification: preferences, quiet hours and the rate limit decide whether
and when; each enabled channel is sent at most once (its state recorded by id); a failing channel
is retried with backoff until the message is too old, then dead-lettered."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.common.logging import get_logger
from services.notify import metrics
from services.notify.app.ports import Channel, PermanentDeliveryError, Renderer, TransientDeliveryError
from services.notify.app.preferences import PreferencesService
from services.notify.app.stores import DeadLetters, NotificationStore, Queued, Views
from services.notify.domain.delivery import RateLimiter, Send, Skip, Wait, backoff_seconds, decide
from services.notify.domain.notification import ChannelName, Kind, Notification, Recipient
from services.notify.domain.planning import Advocate, DigestPeriod, digest_data, thank_you_data

log = get_logger(__name__)

SENT, DEAD, SKIPPED = "sent", "dead", "skipped"
# While the views lag (a restart replaying topics), content built from them waits this long.
VIEWS_LAG_RETRY = timedelta(seconds=1)


@dataclass(frozen=True)
class DeliveryPolicy:
    rate_limit_per_hour: int = 6
    retry_initial_seconds: float = 2.0
    retry_max_seconds: float = 300.0
    # A message still undelivered this long after it was due is dead-lettered (channel down for hours).
    max_age_seconds: float = 24 * 3600.0


class Deliverer:
    def __init__(
        self,
        store: NotificationStore,
        preferences: PreferencesService,
        views: Views,
        renderer: Renderer,
        channels: Mapping[ChannelName, Channel],
        dead_letters: DeadLetters,
        unsubscribe_url: Callable[[str], str],
        clock: Callable[[], datetime],
        policy: DeliveryPolicy,
    ) -> None:
        self._store = store
        self._prefs = preferences
        self._views = views
        self._renderer = renderer
        self._channels = channels
        self._dead = dead_letters
        self._unsubscribe_url = unsubscribe_url
        self._clock = clock
        self._policy = policy
        self._limiter = RateLimiter(policy.rate_limit_per_hour)

    async def deliver(self, notification_id: str) -> datetime | None:
        """Does what is due for one notification; returns when to come back, None once finished."""
        queued = await self._store.queued(notification_id)
        if queued is None:
            return None
        if await self._store.finished(notification_id):
            # Planned again after it was done (a redelivered event): never a second message.
            await self._store.finish(queued, "duplicate", "already_finished", self._clock())
            return None
        now = self._clock()
        advocate = self._views.advocate(queued.advocate_id)
        if advocate is None or not advocate.enrolled:
            if not self._views.current():  # a directory still being read (a restart) knows nobody yet
                await self._store.reschedule(notification_id, now + VIEWS_LAG_RETRY, queued.attempts)
                return now + VIEWS_LAG_RETRY
            await self._skip(queued, "not_enrolled")
            return None
        prefs, _ = await self._prefs.effective(advocate.advocate_id)
        decision = decide(prefs, queued.kind, advocate.timezone, now, self._limiter, advocate.advocate_id)
        if isinstance(decision, Wait) and queued.attempts:
            # Already partly sent: the rest goes out with its retries, not behind the limits again.
            decision = Send(prefs.channels)
        if isinstance(decision, Skip):
            await self._skip(queued, decision.reason)
            return None
        if isinstance(decision, Wait):
            metrics.DELAYED.labels(decision.reason).inc()
            await self._store.reschedule(notification_id, decision.until, queued.attempts)
            return decision.until
        data = self._content(queued, advocate)
        if isinstance(data, str):
            await self._skip(queued, data)
            return None
        if data is None:
            await self._store.reschedule(notification_id, now + VIEWS_LAG_RETRY, queued.attempts)
            return now + VIEWS_LAG_RETRY
        recipient = Recipient(advocate.advocate_id, advocate.display_name, advocate.language, advocate.timezone)
        notification = Notification(queued.notification_id, queued.kind, recipient, queued.first_due_at, data)
        if not queued.attempts:
            self._limiter.record(advocate.advocate_id, now)
        return await self._send_all(queued, notification, decision.channels)

    async def _skip(self, queued: Queued, reason: str) -> None:
        metrics.SKIPPED.labels(queued.kind.value, reason).inc()
        log.info("notification_skipped", notification_id=queued.notification_id, reason=reason)
        await self._store.finish(queued, SKIPPED, reason, self._clock())

    def _content(self, queued: Queued, advocate: Advocate) -> dict[str, object] | str | None:
        """The template context; a reason (str) to skip; None while the views are not current."""
        data = dict(queued.data)
        content_id = str(data.get("content_id", ""))
        if queued.kind in (Kind.NEW_CONTENT, Kind.LEADER_SHARED) and self._views.withdrawn(content_id):
            return "withdrawn"  # expired or archived meanwhile (e.g. while quiet hours held it)
        if queued.kind is Kind.LEADER_SHARED and advocate.advocate_id in self._views.sharers(content_id):
            return "already_shared"
        if queued.kind not in (Kind.THANK_YOU, Kind.DIGEST):
            return data
        if not self._views.current():
            return None
        if queued.kind is Kind.THANK_YOU:
            start = datetime.fromisoformat(str(data["window_start"]))
            awards = self._views.awards(
                advocate.advocate_id, start, start + timedelta(seconds=int(data["window_seconds"]))
            )
            if not any(a.points > 0 for a in awards):
                return "nothing_to_thank"
            titles = {a.content_id: item.title for a in awards if (item := self._views.item(a.content_id))}
            return {**data, **thank_you_data(awards, self._views.shares(advocate.advocate_id), titles)}
        period = DigestPeriod(
            str(data["period_key"]),
            datetime.fromisoformat(str(data["start"])),
            datetime.fromisoformat(str(data["end"])),
        )
        digest = digest_data(
            advocate,
            period,
            self._views.items(),
            self._views.totals(period.start, period.end),
            self._views.shares(advocate.advocate_id),
        )
        if not digest["new_items"] and not digest["points"] and not digest["shares"]:
            return "empty_digest"
        return {**data, **digest}

    async def _send_all(
        self, queued: Queued, notification: Notification, channels: Mapping[ChannelName, str]
    ) -> datetime | None:
        attempts = dict(queued.attempts)
        retry_at: datetime | None = None
        for channel, address in channels.items():
            when = await self._send_one(queued, notification, channel, address, attempts)
            if when is not None:
                retry_at = when if retry_at is None else min(retry_at, when)
        if retry_at is not None:
            await self._store.reschedule(queued.notification_id, retry_at, attempts)
            return retry_at
        await self._store.finish(queued, "delivered", "", self._clock())
        return None

    async def _send_one(
        self, queued: Queued, notification: Notification, channel: ChannelName, address: str, attempts: dict[str, int]
    ) -> datetime | None:
        """Sends on one channel unless done before; returns a retry time when it failed transiently."""
        nid, kind = queued.notification_id, queued.kind.value
        if await self._store.channel_state(nid, channel) is not None:
            return None
        sender = self._channels.get(channel)
        if sender is None:  # e.g. email while no SMTP server is configured
            metrics.SENT.labels(channel.value, kind, "unconfigured").inc()
            await self._store.set_channel_state(nid, channel, SKIPPED, self._clock())
            return None
        try:
            message = self._renderer.render(
                notification, channel, self._unsubscribe_url(notification.recipient.advocate_id)
            )
            await sender.send(notification, message, address)
        except TransientDeliveryError as exc:
            return await self._retry_or_give_up(queued, notification, channel, attempts, exc)
        except PermanentDeliveryError as exc:
            await self._give_up(notification, channel, "permanent", str(exc))
            return None
        now = self._clock()
        await self._store.set_channel_state(nid, channel, SENT, now)
        metrics.SENT.labels(channel.value, kind, "sent").inc()
        log.info(
            "notification_sent", notification_id=nid, channel=channel.value, kind=kind, advocate_id=queued.advocate_id
        )
        return None

    async def _retry_or_give_up(
        self,
        queued: Queued,
        notification: Notification,
        channel: ChannelName,
        attempts: dict[str, int],
        exc: TransientDeliveryError,
    ) -> datetime | None:
        now = self._clock()
        if (now - queued.first_due_at).total_seconds() > self._policy.max_age_seconds:
            await self._give_up(notification, channel, "max_age", str(exc))
            return None
        attempts[channel.value] = attempts.get(channel.value, 0) + 1
        wait = backoff_seconds(
            attempts[channel.value], self._policy.retry_initial_seconds, self._policy.retry_max_seconds
        )
        wait = max(wait, exc.retry_after_seconds or 0.0)  # the receiver asked for at least this
        metrics.SENT.labels(channel.value, queued.kind.value, "retry").inc()
        log.warning(
            "notification_retry",
            notification_id=queued.notification_id,
            channel=channel.value,
            attempt=attempts[channel.value],
            wait_s=wait,
            error=str(exc)[:300],
        )
        return now + timedelta(seconds=wait)

    async def _give_up(self, notification: Notification, channel: ChannelName, reason: str, error: str) -> None:
        await self._dead.dead_letter(notification, channel, reason, error)
        await self._store.set_channel_state(notification.notification_id, channel, DEAD, self._clock())
        metrics.SENT.labels(channel.value, notification.kind.value, "dead").inc()
        log.warning(
            "notification_dead_lettered",
            notification_id=notification.notification_id,
            channel=channel.value,
            reason=reason,
            error=error[:300],
        )
