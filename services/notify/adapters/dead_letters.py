"""Notifications that can never be delivered on a channel go to `notification-sent.dlq`, like
every dead letter of the platform (`advocacy dlq list|replay` counts and replays them): the value is
the notification as a `NotificationSent` (its template context in `data_json`), keyed by advocate,
with the `dlq.*` headers and the channel that refused it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiokafka import AIOKafkaProducer

from services.common.events import utcnow
from services.common.metrics import EVENTS_DEAD_LETTERED
from services.common.topics import NOTIFICATION_SENT, dlq_headers, dlq_name
from services.notify.adapters.topic_channel import notification_sent
from services.notify.app.ports import RenderedMessage
from services.notify.domain.notification import ChannelName, Notification


class KafkaDeadLetters:
    def __init__(self, producer: AIOKafkaProducer, topic: str, clock: Callable[[], datetime] = utcnow) -> None:
        self._producer = producer
        self._topic = topic  # notification-sent with the deployment's prefix
        self._clock = clock

    async def dead_letter(self, notification: Notification, channel: ChannelName, reason: str, error: str) -> None:
        event = notification_sent(notification, RenderedMessage("", "", "", ""), self._clock())
        headers = [
            *dlq_headers(reason, error, f"notify/{channel.value}", -1, -1),
            ("notify.channel", channel.value.encode()),
        ]
        await self._producer.send_and_wait(
            dlq_name(self._topic),
            key=notification.recipient.advocate_id.encode(),
            value=event.SerializeToString(),
            headers=headers,
        )
        EVENTS_DEAD_LETTERED.labels(NOTIFICATION_SENT.name, reason).inc()
