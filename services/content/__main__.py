"""Composition root of the content service: `python -m services.content`."""

from __future__ import annotations

import asyncio

from advocacy.content.v1 import content_pb2, content_pb2_grpc
from advocacy.share.v1.share_pb2 import AdvocateChanged, ShareMade

from services.common.api_service import ApiComponents, run_api_service
from services.common.consumer import ConsumerLoop, Subscription
from services.common.kafka import kafka_producer
from services.common.mongo import mongo_client, prepare_database
from services.common.outbox import OutboxRelay
from services.common.topics import ADVOCATE_CHANGED, SHARE_MADE
from services.content.adapters.repository import ContentRepository
from services.content.adapters.views import FeedViews
from services.content.api.servicer import ContentServicer
from services.content.config import ContentSettings
from services.content.scheduler import Scheduler
from services.content.transitions import ContentEvents


async def build(settings: ContentSettings) -> ApiComponents:
    mongo = mongo_client(settings)
    db = mongo[settings.mongo_db]
    repository = ContentRepository(db)
    views = FeedViews(db)
    relay = OutboxRelay(
        repository.versions,
        lambda: kafka_producer(settings, client_id="content"),
        topic_prefix=settings.topic_prefix,
        sweep_interval_seconds=settings.outbox_sweep_seconds,
    )
    servicer = ContentServicer(repository, settings.topic, relay.notify, views)
    scheduler = Scheduler(repository, ContentEvents(settings.topic), relay.notify, settings.scheduler_interval_seconds)
    background = [(relay.run, relay.stop), (scheduler.run, scheduler.stop)]
    if settings.feed_views_enabled:
        consumer = ConsumerLoop(
            bootstrap=settings.kafka_bootstrap,
            group_id=f"{settings.topic_prefix}advocacy-content-feed-views",
            subscriptions=[
                Subscription(
                    settings.topic(ADVOCATE_CHANGED.name),
                    AdvocateChanged,
                    views.apply_advocate_changed,
                    ADVOCATE_CHANGED.name,
                ),
                Subscription(settings.topic(SHARE_MADE.name), ShareMade, views.apply_share_made, SHARE_MADE.name),
            ],
            producer_factory=lambda: kafka_producer(settings, client_id="content-dlq"),
            client_id="content-feed-views",
        )
        background.append((consumer.run, consumer.stop))

    async def start() -> None:
        await prepare_database(repository.ensure_indexes, views.ensure_indexes)

    return ApiComponents(
        register=lambda s: content_pb2_grpc.add_ContentServiceServicer_to_server(servicer, s.server),
        service_names=[content_pb2.DESCRIPTOR.services_by_name["ContentService"].full_name],
        mongo=mongo,
        background=background,
        start=start,
    )


def main() -> None:
    settings = ContentSettings()
    asyncio.run(run_api_service("content", settings, lambda: build(settings)))


if __name__ == "__main__":
    main()
