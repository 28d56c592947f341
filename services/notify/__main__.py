"""Composition root of the notify service: `python -m services.notify`.

One process (one replica): the planner consumes `points-awarded`, `content-published` and
`share-made` (consumer group, committed after queueing), views follow the four input topics,
the delivery loop sends what is due, the digest scheduler plans digests at each advocate's local
hour, gRPC serves preferences and HTTP the unsubscribe page."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
from advocacy.notify.v1 import notify_pb2, notify_pb2_grpc
from aiokafka import AIOKafkaProducer

from services.common.api_service import ApiComponents, run_api_service
from services.common.consumer import ConsumerLoop
from services.common.events import utcnow
from services.common.http_server import HttpServer
from services.common.kafka import kafka_producer
from services.common.mongo import mongo_client
from services.common.topics import NOTIFICATION_SENT
from services.notify.adapters.dead_letters import KafkaDeadLetters
from services.notify.adapters.email import SmtpEmailChannel
from services.notify.adapters.store import MongoNotificationStore, MongoPreferencesStore
from services.notify.adapters.templates import JinjaRenderer
from services.notify.adapters.topic_channel import TopicChannel
from services.notify.adapters.views import NotifyViews
from services.notify.adapters.webhooks import slack_channel, teams_channel, webhook_session
from services.notify.api.servicer import NotifyServicer
from services.notify.app.delivery import Deliverer, DeliveryPolicy
from services.notify.app.digests import DigestScheduler
from services.notify.app.loop import DeliveryLoop
from services.notify.app.planner import Planner
from services.notify.app.ports import Channel
from services.notify.app.preferences import PreferencesService
from services.notify.config import EmailSettings, NotifySettings, UnsubscribeSettings, WebhookSettings
from services.notify.domain.notification import ChannelName
from services.notify.domain.unsubscribe import unsubscribe_url, verify_token
from services.notify.stream.handlers import subscriptions
from services.notify.web.unsubscribe import UnsubscribePage


@dataclass
class Notify:
    """The wired service; tests build it with their own settings and clock."""

    settings: NotifySettings
    views: NotifyViews
    preferences: PreferencesService
    store: MongoNotificationStore
    planner: Planner
    loop: DeliveryLoop
    digests: DigestScheduler
    consumer: ConsumerLoop
    http: HttpServer
    servicer: NotifyServicer
    producer: AIOKafkaProducer
    session: aiohttp.ClientSession


def channels(
    settings: NotifySettings,
    producer: AIOKafkaProducer,
    session: aiohttp.ClientSession,
    webhooks: WebhookSettings,
    email: EmailSettings | None,
) -> dict[ChannelName, Channel]:
    wired: dict[ChannelName, Channel] = {
        ChannelName.TOPIC: TopicChannel(producer, settings.topic(NOTIFICATION_SENT.name)),
        ChannelName.SLACK: slack_channel(session, webhooks),
        ChannelName.TEAMS: teams_channel(session, webhooks),
    }
    if email is not None:
        wired[ChannelName.EMAIL] = SmtpEmailChannel(email)
    return wired


def wire(
    settings: NotifySettings,
    clock: Callable[[], datetime] = utcnow,
    email: EmailSettings | None = None,
    unsubscribe: UnsubscribeSettings | None = None,
) -> Notify:
    """`email` None: from the environment when ADVOCACY_EMAIL_ENABLED, else no email channel."""
    if email is None and settings.email_enabled:
        email = EmailSettings()
    webhooks = WebhookSettings()
    db = mongo_client(settings)[settings.mongo_db]
    store, preferences, views = MongoNotificationStore(db), PreferencesService(MongoPreferencesStore(db)), NotifyViews()
    views.follow(settings.kafka_bootstrap, settings.topic, settings.view_max_lag_seconds)
    producer, session = kafka_producer(settings, client_id="notify"), webhook_session(webhooks)
    secret = (unsubscribe or UnsubscribeSettings()).secret_bytes
    deliverer = Deliverer(
        store,
        preferences,
        views,
        JinjaRenderer(),
        channels(settings, producer, session, webhooks, email),
        KafkaDeadLetters(producer, settings.topic(NOTIFICATION_SENT.name), clock),
        lambda advocate_id: unsubscribe_url(settings.unsubscribe_base_url, advocate_id, secret),
        clock,
        DeliveryPolicy(
            settings.rate_limit_per_hour,
            settings.retry_initial_seconds,
            settings.retry_max_seconds,
            settings.max_age_seconds,
        ),
    )
    loop = DeliveryLoop(store, deliverer, clock, settings.delivery_concurrency)
    planner, consumer = planning(settings, views, store, preferences, loop, clock)
    digests = DigestScheduler(
        views, preferences, store, loop.add, clock, settings.digest_hour, settings.digest_tick_seconds
    )
    page = UnsubscribePage(preferences, lambda token: verify_token(secret, token))
    http = HttpServer(
        page.app(),
        settings.unsubscribe_http_host or settings.grpc_host,
        settings.unsubscribe_http_port,
        settings.shutdown_grace_seconds,
    )
    servicer = NotifyServicer(preferences)
    return Notify(
        settings, views, preferences, store, planner, loop, digests, consumer, http, servicer, producer, session
    )


def planning(
    settings: NotifySettings,
    views: NotifyViews,
    store: MongoNotificationStore,
    preferences: PreferencesService,
    loop: DeliveryLoop,
    clock: Callable[[], datetime],
) -> tuple[Planner, ConsumerLoop]:
    """The planner and the consumer loop feeding it (committed after queueing; poison to DLQs)."""
    planner = Planner(
        views,
        store,
        loop.add,
        clock,
        settings.thank_you_window_seconds,
        settings.thank_you_grace_seconds,
        max_event_age=timedelta(seconds=settings.max_event_age_seconds),
        wants=preferences.wants,
    )
    consumer = ConsumerLoop(
        settings.kafka_bootstrap,
        f"{settings.topic_prefix}advocacy-notify-planner",
        subscriptions(planner, settings.topic),
        lambda: kafka_producer(settings, client_id="notify-dlq"),
        client_id="notify-planner",
    )
    return planner, consumer


def components(notify: Notify) -> ApiComponents:
    async def start() -> None:
        await notify.producer.start()
        await notify.http.start()

    async def close() -> None:
        await notify.session.close()
        await notify.producer.stop()

    runners = [*((f.run, f.stop) for f in notify.views.followers)]
    runners += [(notify.consumer.run, notify.consumer.stop), (notify.loop.run, notify.loop.stop)]
    runners += [(notify.digests.run, notify.digests.stop)]
    return ApiComponents(
        register=lambda s: notify_pb2_grpc.add_NotifyServiceServicer_to_server(notify.servicer, s.server),
        service_names=[notify_pb2.DESCRIPTOR.services_by_name["NotifyService"].full_name],
        mongo=notify.store.queue.database.client,
        background=runners,
        start=start,
        stop=notify.http.stop,
        close=close,
        # Ready once the views read their topics (planning and delivery wait for them anyway).
        recovered=notify.views.current,
    )


def main() -> None:
    settings = NotifySettings()

    async def build() -> ApiComponents:
        return components(wire(settings))

    asyncio.run(run_api_service("notify", settings, build))


if __name__ == "__main__":
    main()
