"""Composition root of the content service: `python -m services.content`."""

from __future__ import annotations

import asyncio

from advocacy.content.v1 import content_pb2, content_pb2_grpc, training_pb2, training_pb2_grpc
from advocacy.share.v1.share_pb2 import AdvocateChanged, ShareMade
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from services.common.api_service import ApiComponents, run_api_service
from services.common.consumer import ConsumerLoop, Subscription
from services.common.grpc_server import GrpcServer
from services.common.kafka import kafka_producer
from services.common.mongo import mongo_client, prepare_database
from services.common.outbox import OutboxRelay
from services.common.topics import ADVOCATE_CHANGED, SHARE_MADE
from services.content.adapters.events import ContentEvents
from services.content.adapters.feeds import parse_feed
from services.content.adapters.fetch import SafeFetcher
from services.content.adapters.previews import PreviewStore
from services.content.adapters.repository import ContentRepository, outbox_notifier
from services.content.adapters.sources import SourceRepository
from services.content.adapters.training import (
    LessonRepository,
    PrerequisiteRepository,
    ProgressRepository,
    TrainingEvents,
    progress_id,
)
from services.content.adapters.views import FeedViews
from services.content.api.servicer import ContentServicer
from services.content.api.sources import SourceAdmin
from services.content.api.training import TrainingServicer
from services.content.app.advocate_feed import ListFeed
from services.content.app.authoring import CreateItem, EditItem, new_id
from services.content.app.feed_items import FeedItemWriter
from services.content.app.imports import ImportItems
from services.content.app.learning import Learning
from services.content.app.lessons import LessonAdmin
from services.content.app.poller import SourcePoller
from services.content.app.polling import FeedPolling, PollResult
from services.content.app.ports import OutboxWritten
from services.content.app.prerequisites import Prerequisites
from services.content.app.previews import PreviewReader
from services.content.app.queries import GetItem, ListItems
from services.content.app.scheduling import Scheduler
from services.content.app.transitions import TransitionItem
from services.content.config import ContentSettings
from services.content.metrics import (
    PREVIEW_FETCHES,
    SCHEDULED_TRANSITIONS,
    SOURCE_FAILING_SECONDS,
    SOURCE_ITEMS,
    SOURCE_POLLS,
)


def build_previews(settings: ContentSettings, db: AsyncDatabase, fetcher: SafeFetcher) -> PreviewReader | None:
    if not settings.content_previews_enabled:
        return None
    return PreviewReader(
        PreviewStore(db),
        fetcher,
        settings.content_preview_max_bytes,
        concurrency=settings.content_preview_concurrency,
        on_outcome=lambda outcome: PREVIEW_FETCHES.labels(outcome).inc(),
    )


def count_poll(result: PollResult) -> None:
    SOURCE_POLLS.labels(result.outcome).inc()
    SOURCE_ITEMS.inc(result.created)


def build_sources(
    settings: ContentSettings,
    repository: ContentRepository,
    sources: SourceRepository,
    fetcher: SafeFetcher,
    notify: OutboxWritten,
    previews: PreviewReader | None,
) -> tuple[SourceAdmin | None, SourcePoller | None]:
    if not settings.content_sources_enabled:
        return None, None
    writer = FeedItemWriter(
        repository,
        ContentEvents(settings.topic),
        notify,
        on_created=(lambda item: previews.request(item.url)) if previews else (lambda item: None),
    )
    polling = FeedPolling(
        fetcher, parse_feed, writer, settings.content_feed_max_bytes, settings.content_source_max_backoff_seconds
    )
    poller = SourcePoller(
        sources,
        polling.poll,
        (PyMongoError,),
        on_polled=count_poll,
        on_failing=SOURCE_FAILING_SECONDS.set,
        tick_seconds=settings.content_source_tick_seconds,
        refresh_seconds=settings.content_source_refresh_seconds,
        lease_seconds=settings.content_source_lease_seconds,
        concurrency=settings.content_source_concurrency,
    )
    admin = SourceAdmin(sources, new_id, settings.content_source_min_interval_seconds, poke=poller.poke)
    return admin, poller


def feed_views_consumer(settings: ContentSettings, views: FeedViews) -> ConsumerLoop:
    """Keeps the feed's view of advocates and their shares current from the share service's topics."""
    return ConsumerLoop(
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


def build_training(
    settings: ContentSettings, db: AsyncDatabase, views: FeedViews
) -> tuple[TrainingServicer, Prerequisites, list[OutboxRelay], list]:
    """The TrainingService, the prerequisites GetContent attaches, the outbox relays (completions,
    prerequisites) and the start-up steps (indexes, announcing lists not announced yet)."""
    lessons = LessonRepository(db)
    progress = ProgressRepository(db)
    relay = OutboxRelay(
        progress.completions,
        lambda: kafka_producer(settings, client_id="content-training"),
        topic_prefix=settings.topic_prefix,
        sweep_interval_seconds=settings.outbox_sweep_seconds,
    )
    learning = Learning(
        lessons,
        progress,
        views,
        TrainingEvents(settings.topic),
        on_completed=lambda advocate_id, lesson_id: relay.notify(progress_id(advocate_id, lesson_id)),
    )
    required = PrerequisiteRepository(db)
    # Versions of one campaign's list in the order they were written: `campaign-prerequisites` is compacted.
    prerequisites_relay = OutboxRelay(
        required.versions.records,
        lambda: kafka_producer(settings, client_id="content-prerequisites"),
        topic_prefix=settings.topic_prefix,
        sweep_interval_seconds=settings.outbox_sweep_seconds,
        order_by="version",
    )
    prerequisites = Prerequisites(
        required, lessons, TrainingEvents(settings.topic), on_changed=lambda: prerequisites_relay.notify()
    )
    servicer = TrainingServicer(LessonAdmin(lessons, on_archived=prerequisites.drop_lesson), learning, prerequisites)
    setup = [lessons.ensure_indexes, progress.ensure_indexes, required.ensure_indexes, prerequisites.recover]
    return servicer, prerequisites, [relay, prerequisites_relay], setup


def _fetcher(settings: ContentSettings) -> SafeFetcher:
    return SafeFetcher(
        settings.content_fetch_timeout_seconds,
        settings.content_fetch_max_redirects,
        settings.content_fetch_allow_private,
        settings.fetch_allow_hosts(),
    )


def _scheduler(
    settings: ContentSettings, repository: ContentRepository, events: ContentEvents, notify: OutboxWritten
) -> Scheduler:
    return Scheduler(
        repository,
        events,
        notify,
        (PyMongoError,),
        settings.scheduler_interval_seconds,
        on_transition=lambda action: SCHEDULED_TRANSITIONS.labels(action.value).inc(),
    )


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
    fetcher = _fetcher(settings)
    sources = SourceRepository(db)
    previews = build_previews(settings, db, fetcher)
    notify = outbox_notifier(relay.notify)
    events = ContentEvents(settings.topic)
    admin, poller = build_sources(settings, repository, sources, fetcher, notify, previews)
    # A created or edited item's link preview is fetched in the background.
    saved = (lambda item: previews.request(item.url)) if previews is not None else (lambda item: None)
    training, prerequisites, training_relays, training_setup = build_training(settings, db, views)
    servicer = ContentServicer(
        GetItem(repository),
        ListItems(repository),
        TransitionItem(repository, events, notify),
        CreateItem(repository, saved),
        EditItem(repository, saved),
        ListFeed(repository, views),
        admin,
        previews,
        prerequisites,
        ImportItems(repository, events, notify, saved),
    )
    scheduler = _scheduler(settings, repository, events, notify)
    background = [(r.run, r.stop) for r in (relay, *training_relays)] + [(scheduler.run, scheduler.stop)]
    background += [(task.run, task.stop) for task in (previews, poller) if task is not None]
    if settings.feed_views_enabled:
        consumer = feed_views_consumer(settings, views)
        background.append((consumer.run, consumer.stop))

    async def start() -> None:
        await prepare_database(repository.ensure_indexes, views.ensure_indexes, *training_setup)

    def register(server: GrpcServer) -> None:
        content_pb2_grpc.add_ContentServiceServicer_to_server(servicer, server.server)
        training_pb2_grpc.add_TrainingServiceServicer_to_server(training, server.server)

    return ApiComponents(
        register=register,
        service_names=[
            content_pb2.DESCRIPTOR.services_by_name["ContentService"].full_name,
            training_pb2.DESCRIPTOR.services_by_name["TrainingService"].full_name,
        ],
        mongo=mongo,
        background=background,
        start=start,
        close=fetcher.close,
    )


def main() -> None:
    settings = ContentSettings()
    asyncio.run(run_api_service("content", settings, lambda: build(settings)))


if __name__ == "__main__":
    main()
