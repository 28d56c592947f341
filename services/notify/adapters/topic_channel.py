"""The `notification-sent` topic: rendered notifications for apps that deliver by themselves.

One `NotificationSent` per notification, keyed by advocate id (an advocate's messages stay in order
on one partition, as on every advocate-keyed topic). `send` returns only once the broker acknowledged
(acks=all, idempotent producer from services/common/kafka.py), so a failure is retried by the caller;
a retry after a lost ack may publish twice, with the same event_id, which consumers de-duplicate on.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime

from advocacy.notify.v1.notify_pb2 import NotificationSent
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.common.events import to_timestamp, utcnow
from services.notify.app.ports import RenderedMessage, TransientDeliveryError
from services.notify.domain.notification import ChannelName, Notification


def notification_sent(notification: Notification, message: RenderedMessage, at: datetime) -> NotificationSent:
    return NotificationSent(
        event_id=notification.notification_id,
        occurred_at=to_timestamp(at),
        advocate_id=notification.recipient.advocate_id,
        kind=notification.kind.value,
        language=message.language or notification.recipient.language,
        subject=message.subject,
        text=message.text,
        html=message.html,
        data_json=json.dumps(dict(notification.data), ensure_ascii=False, sort_keys=True, default=str),
        unsubscribe_url=message.unsubscribe_url,
    )


class TopicChannel:
    name = ChannelName.TOPIC

    def __init__(
        self,
        producer: AIOKafkaProducer,
        topic: str,
        timeout_seconds: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._producer = producer
        self._topic = topic  # with the deployment's prefix: settings.topic("notification-sent")
        self._timeout = timeout_seconds
        self._clock = clock

    async def send(self, notification: Notification, message: RenderedMessage, address: str) -> None:
        event = notification_sent(notification, message, self._clock())
        try:
            async with asyncio.timeout(self._timeout):
                await self._producer.send_and_wait(
                    self._topic,
                    key=notification.recipient.advocate_id.encode(),
                    value=event.SerializeToString(),
                )
        except (KafkaError, TimeoutError) as exc:
            raise TransientDeliveryError(f"notification-sent not acknowledged: {type(exc).__name__}: {exc}") from exc
