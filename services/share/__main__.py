"""Composition root of the share service: `python -m services.share`."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from advocacy.share.v1 import share_pb2, share_pb2_grpc
from pymongo.asynchronous.collection import AsyncCollection

from services.common.api_service import ApiComponents, run_api_service
from services.common.auth import service_channel
from services.common.group_commit import GroupCommit
from services.common.http_server import HttpServer
from services.common.kafka import kafka_producer
from services.common.mongo import mongo_client, prepare_database
from services.common.outbox import OutboxRelay
from services.common.topics import ADVOCATE_CHANGED, CAMPAIGN_PREREQUISITES, CONTENT_PUBLISHED, LESSON_COMPLETED
from services.share.adapters.advocates import AdvocateRepository, AdvocateView
from services.share.adapters.content_client import ContentClient
from services.share.adapters.content_view import ContentView
from services.share.adapters.engagement import ClickWindowRepository, EngagementRepository
from services.share.adapters.repository import ShareRepository
from services.share.adapters.training_views import CompletionsView, PrerequisitesView
from services.share.api.servicer import ShareServicer
from services.share.app.advocates import Advocates
from services.share.app.engagement import CountClick, EngagementEvents, RecordEngagement
from services.share.app.imports import ImportAdvocates, ImportShares
from services.share.app.queries import ListShares
from services.share.app.shares import LessonCheck, RecordShare
from services.share.config import ShareSettings
from services.share.web.tracker import LinkTracker


def outbox_relays(settings: ShareSettings, **collections: AsyncCollection) -> dict[str, OutboxRelay]:
    """One relay per collection that carries an outbox (each document is its own atomic unit)."""

    def relay(name: str, collection: AsyncCollection) -> OutboxRelay:
        return OutboxRelay(
            collection,
            lambda: kafka_producer(settings, client_id=f"share-{name}"),
            # Versions of one advocate in the order they were written: `advocate-changed` is compacted.
            order_by="written_at" if name == "advocates" else None,
            topic_prefix=settings.topic_prefix,
            sweep_interval_seconds=settings.outbox_sweep_seconds,
        )

    return {name: relay(name, collection) for name, collection in collections.items()}


def training_views(settings: ShareSettings, content: ContentClient) -> tuple[PrerequisitesView, CompletionsView]:
    """The request path's views of campaign prerequisites and lesson completions."""
    return (
        PrerequisitesView(
            settings.kafka_bootstrap,
            settings.topic(CAMPAIGN_PREREQUISITES.name),
            content,
            max_lag_seconds=settings.view_max_lag_seconds,
        ),
        CompletionsView(
            settings.kafka_bootstrap,
            settings.topic(LESSON_COMPLETED.name),
            max_lag_seconds=settings.view_max_lag_seconds,
            wait_seconds=settings.completion_wait_seconds,
        ),
    )


def local_views(
    settings: ShareSettings, advocates: AdvocateRepository
) -> tuple[ContentClient, ContentView, AdvocateView]:
    """The request path's views of items and advocates (and the content client they fall back to)."""
    content = ContentClient(
        service_channel(settings.content_addr, settings, "share"), cache_seconds=settings.content_cache_seconds
    )
    view = ContentView(
        settings.kafka_bootstrap,
        settings.topic(CONTENT_PUBLISHED.name),
        content,
        max_lag_seconds=settings.view_max_lag_seconds,
    )
    advocate_view = AdvocateView(
        advocates, settings.kafka_bootstrap, settings.topic(ADVOCATE_CHANGED.name), settings.view_max_lag_seconds
    )
    return content, view, advocate_view


def link_tracker(settings: ShareSettings, count_click: CountClick) -> HttpServer:
    """The HTTP server of the tracked links (`GET /l/<code>`)."""
    tracker = LinkTracker(count_click, settings.trust_forwarded_for)
    return HttpServer(
        tracker.app(), settings.http_host or settings.grpc_host, settings.http_port, settings.shutdown_grace_seconds
    )


def share_servicer(
    settings: ShareSettings,
    stores: tuple[AdvocateRepository, ShareRepository, EngagementRepository],
    relays: dict[str, OutboxRelay],
    views: tuple[ContentView, AdvocateView, PrerequisitesView, CompletionsView],
) -> ShareServicer:
    advocates, shares, engagements = stores
    view, advocate_view, prerequisites, completions = views
    salt = settings.fingerprint_salt.get_secret_value()
    enrolments = Advocates(advocates, settings.topic, relays["advocates"].notify)
    record = RecordShare(
        advocate_view,
        view,
        shares,
        settings.topic,
        settings.public_base_url,
        salt,
        relays["shares"].notify,
        lessons=LessonCheck(prerequisites, completions),
    )
    return ShareServicer(
        enrolments,
        ListShares(shares),
        record,
        RecordEngagement(shares, engagements, EngagementEvents(settings.topic), salt, relays["engagements"].notify),
        # History imports read advocates from the store: exact right after ImportAdvocates.
        ImportAdvocates(enrolments),
        ImportShares(record, advocates, shares),
    )


async def build(settings: ShareSettings) -> ApiComponents:
    mongo = mongo_client(settings)
    db = mongo[settings.mongo_db]
    # One group commit for shares, click windows and engagements: concurrent calls share inserts.
    commit = GroupCommit(settings.group_commit_max_batch, settings.group_commit_concurrency)
    advocates = AdvocateRepository(db)
    shares = ShareRepository(db, commit)
    windows = ClickWindowRepository(db, commit)
    engagements = EngagementRepository(db, commit)
    content, view, advocate_view = local_views(settings, advocates)
    prerequisites, completions = training_views(settings, content)

    relays = outbox_relays(
        settings,
        advocates=advocates.collection,
        shares=shares.collection,
        clicks=windows.collection,
        engagements=engagements.collection,
    )
    salt = settings.fingerprint_salt.get_secret_value()
    events = EngagementEvents(settings.topic)
    click_window = timedelta(seconds=settings.click_window_seconds)
    servicer = share_servicer(
        settings, (advocates, shares, engagements), relays, (view, advocate_view, prerequisites, completions)
    )
    http = link_tracker(settings, CountClick(shares, windows, events, salt, click_window, relays["clicks"].notify))

    async def start() -> None:
        for repo in (advocates, shares, windows, engagements):
            await prepare_database(repo.ensure_indexes)
        await prepare_database(shares.migrate)  # before serving: old-shape shares get their aliases
        await http.start()

    return ApiComponents(
        register=lambda s: share_pb2_grpc.add_ShareServiceServicer_to_server(servicer, s.server),
        service_names=[share_pb2.DESCRIPTOR.services_by_name["ShareService"].full_name],
        mongo=mongo,
        background=[(relay.run, relay.stop) for relay in relays.values()]
        + [
            (f.run, f.stop)
            for f in (view.follower, advocate_view.follower, prerequisites.follower, completions.follower)
        ],
        start=start,
        stop=http.stop,
        close=content.close,
    )


def main() -> None:
    settings = ShareSettings()
    asyncio.run(run_api_service("share", settings, lambda: build(settings)))


if __name__ == "__main__":
    main()
