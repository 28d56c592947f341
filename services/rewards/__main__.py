"""Composition root of the rewards service: `python -m services.rewards` (a Faust worker + gRPC)."""

from __future__ import annotations

import asyncio

from advocacy.rewards.v1 import rewards_pb2, rewards_pb2_grpc

from services.common.logging import get_logger
from services.common.mongo import mongo_client, prepare_database
from services.common.read_cache import ReadCache
from services.common.stream import create_app
from services.common.stream_worker import StreamComponents, run_stream_service
from services.common.topics import ensure_internal_topics
from services.rewards.adapters.accounts import ACCOUNTS, AccountView
from services.rewards.adapters.ledger import LedgerRepository
from services.rewards.adapters.store import (
    CampaignRepository,
    CatalogRepository,
    LeaderboardDocuments,
    RedemptionOutcomes,
    RulesCache,
    RuleSetRepository,
)
from services.rewards.api.servicer import Repositories, RewardsServicer
from services.rewards.app.incoming import RedemptionRequest
from services.rewards.app.redemption import Redemptions
from services.rewards.config import RewardsSettings
from services.rewards.domain.boards import Row
from services.rewards.metrics import count_redemption, report_pending
from services.rewards.stream.agents import INTERNAL_PARTITIONS, Deps, register_agents
from services.rewards.stream.decode import (
    EARLY_SHARERS,
    REDEMPTION_REQUESTS,
    SHARES_BY_CONTENT,
    redemption_message,
)

log = get_logger(__name__)


class _Adapters:
    """Filled in on the worker's event loop, before any agent runs (the async client binds to it)."""

    repos: Repositories
    deps: Deps


def main() -> None:
    settings = RewardsSettings()
    app = create_app("rewards", settings)
    adapters = _Adapters()
    requests = register_agents(app, settings.topic, lambda: adapters.deps)

    async def send_request(advocate_id: str, request: RedemptionRequest) -> None:
        await (await requests.send(key=advocate_id.encode(), value=redemption_message(request)))

    async def build() -> StreamComponents:
        names = [settings.topic(n) for n in (SHARES_BY_CONTENT, EARLY_SHARERS, REDEMPTION_REQUESTS, ACCOUNTS)]
        # The tables' changelogs too: a changelog Faust declares while its producer already sends
        # to it could stall that producer's queue (and so every table write) on a fresh cluster.
        changelogs = [table.changelog_topic.get_topic_name() for table in app.tables.values()]
        await asyncio.to_thread(
            ensure_internal_topics,
            settings.kafka_bootstrap,
            names + changelogs,
            INTERNAL_PARTITIONS,
            settings.topic_replication_factor,
            frozenset({settings.topic(ACCOUNTS), *changelogs}),
        )
        mongo = mongo_client(settings)
        db = mongo[settings.mongo_db]
        ledger, catalog = LedgerRepository(db), CatalogRepository(db)
        outcomes = RedemptionOutcomes(db)
        accounts = AccountView(
            settings.kafka_bootstrap,
            settings.topic(ACCOUNTS),
            settings.account_view_max_lag_seconds,
            settings.account_view_wait_seconds,
        )
        boards = LeaderboardDocuments(db, INTERNAL_PARTITIONS)
        rule_sets, campaigns = RuleSetRepository(db), CampaignRepository(db)
        await prepare_database(ledger.ensure_indexes, catalog.ensure_indexes)
        redemptions = Redemptions(
            catalog,
            outcomes,
            send_request,
            settings.redemption_timeout_seconds,
            on_outcome=count_redemption,
            on_pending=report_pending,
        )
        adapters.repos = Repositories(ledger, accounts, boards, catalog, rule_sets, campaigns, redemptions)
        cache = RulesCache(rule_sets, campaigns, settings.rules_refresh_seconds)
        adapters.deps = Deps(ledger, catalog, outcomes, boards, cache, accounts.book)
        cached = ReadCache[list[Row]](
            settings.leaderboard_cache_seconds,
            max(settings.leaderboard_max_stale_seconds, settings.leaderboard_cache_seconds),
            name="leaderboards",
        )
        servicer = RewardsServicer(lambda: adapters.repos, cached, cache.rules)
        return StreamComponents(
            register=lambda s: rewards_pb2_grpc.add_RewardsServiceServicer_to_server(servicer, s.server),
            service_names=[rewards_pb2.DESCRIPTOR.services_by_name["RewardsService"].full_name],
            mongo=mongo,
            background=[(accounts.follower.run, accounts.follower.stop)],
        )

    run_stream_service("rewards", settings, app, build)


if __name__ == "__main__":
    main()
