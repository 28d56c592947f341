"""Composition root of the analytics service: `python -m services.analytics` (a Faust worker + gRPC)."""

from __future__ import annotations

import asyncio
from typing import Any

from advocacy.analytics.v1 import analytics_pb2, analytics_pb2_grpc

from services.analytics.adapters.facts import AnalyticsRepository
from services.analytics.adapters.health import HealthDocuments
from services.analytics.adapters.rate_cards import RateCardRepository
from services.analytics.adapters.reader import AnalyticsReader
from services.analytics.adapters.rollups import RollupDocuments
from services.analytics.api.servicer import AnalyticsServicer
from services.analytics.app.health import HealthQueries
from services.analytics.app.ingest import Ingest
from services.analytics.app.queries import AnalyticsQueries
from services.analytics.app.rate_cards import RateCards
from services.analytics.config import AnalyticsSettings
from services.analytics.domain.report import Config
from services.analytics.stream.agents import register_agents
from services.common.mongo import mongo_client, prepare_database
from services.common.read_cache import ReadCache
from services.common.stream import create_app
from services.common.stream_worker import StreamComponents, run_stream_service
from services.common.topics import SHARE_MADE, ensure_internal_topics


class _Adapters:
    """Filled in on the worker's event loop, before any agent runs (the async client binds to it)."""

    repo: AnalyticsRepository
    rollups: RollupDocuments
    reader: AnalyticsReader
    rate_cards: RateCardRepository
    health: HealthDocuments


def main() -> None:
    settings = AnalyticsSettings()
    app = create_app("analytics", settings)
    adapters = _Adapters()
    ingest = Ingest(lambda: adapters.repo, settings.allowed_lateness)
    register_agents(
        app, settings.topic, ingest, lambda: adapters.rollups, settings.batch_max_events, lambda: adapters.health
    )
    config = Config(
        rate_card=settings.rate_cards(),
        organic_reach_rate=settings.organic_reach_rate,
        company_channel_audience=settings.company_channel_audience,
    )

    async def build() -> StreamComponents:
        # The rollup table's changelog before the first write (as the rewards worker's tables').
        changelogs = [table.changelog_topic.get_topic_name() for table in app.tables.values()]
        await asyncio.to_thread(
            ensure_internal_topics,
            settings.kafka_bootstrap,
            changelogs,
            SHARE_MADE.partitions,
            settings.topic_replication_factor,
            frozenset(changelogs),
        )
        mongo = mongo_client(settings)
        adapters.repo = AnalyticsRepository(mongo[settings.mongo_db])
        adapters.rollups = RollupDocuments(mongo[settings.mongo_db], SHARE_MADE.partitions)
        adapters.reader = AnalyticsReader(adapters.repo, adapters.rollups)
        adapters.health = HealthDocuments(mongo[settings.mongo_db])
        adapters.rate_cards = RateCardRepository(mongo[settings.mongo_db])
        rate_cards = RateCards(
            lambda: adapters.rate_cards, settings.currency, settings.rate_cards(), settings.rate_card_refresh_seconds
        )
        # Seeds version 1 from the settings when no rate card is stored (the first replica wins).
        await prepare_database(adapters.repo.ensure_indexes, rate_cards.newest)
        queries = AnalyticsQueries(lambda: adapters.reader, config, settings.currency)
        cache = ReadCache[Any](
            settings.stats_cache_seconds,
            max(settings.stats_max_stale_seconds, settings.stats_cache_seconds),
            name="stats",
        )
        health = HealthQueries(lambda: adapters.health, SHARE_MADE.partitions)
        servicer = AnalyticsServicer(queries, cache, rate_cards=rate_cards, health=health)
        return StreamComponents(
            register=lambda s: analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server(servicer, s.server),
            service_names=[analytics_pb2.DESCRIPTOR.services_by_name["AnalyticsService"].full_name],
            mongo=mongo,
        )

    run_stream_service("analytics", settings, app, build)


if __name__ == "__main__":
    main()
