"""Composition root of the rewards service: `python -m services.rewards` (a Faust worker + gRPC)."""

from __future__ import annotations

import asyncio

from advocacy.rewards.v1 import rewards_pb2, rewards_pb2_grpc
from pymongo.errors import PyMongoError

from services.common.logging import get_logger
from services.common.mongo import mongo_client, prepare_database
from services.common.read_cache import ReadCache
from services.common.stream import StreamComponents, create_app, run_stream_service
from services.rewards.adapters.ledger import LedgerRepository
from services.rewards.adapters.redemption import Redemptions
from services.rewards.adapters.store import (
    CampaignRepository,
    CatalogRepository,
    DayTotalsRepository,
    RulesCache,
    RuleSetRepository,
    WalletRepository,
)
from services.rewards.adapters.topics import ensure_internal_topics
from services.rewards.api.servicer import Repositories, RewardsServicer
from services.rewards.config import RewardsSettings
from services.rewards.domain.boards import Row
from services.rewards.stream.agents import EARLY_SHARERS, INTERNAL_PARTITIONS, SHARES_BY_CONTENT, Deps, register_agents

log = get_logger(__name__)


class _Adapters:
    """Filled in on the worker's event loop, before any agent runs (the async client binds to it)."""

    repos: Repositories
    deps: Deps


def main() -> None:
    settings = RewardsSettings()
    app = create_app("rewards", settings)
    adapters = _Adapters()
    register_agents(app, settings.topic, lambda: adapters.deps)

    @app.timer(interval=settings.redemption_recovery_interval_seconds)
    async def recover_redemptions() -> None:
        # Every replica sweeps: the wallet's unique key decides between a rollback and a late
        # debit, so concurrent sweeps cannot disagree.
        try:
            await adapters.repos.redemptions.recover(settings.redemption_recovery_after_seconds)
        except PyMongoError as exc:  # the database is away: the next sweep tries again
            log.warning("redemption_recovery_failed", error=str(exc)[:300])

    async def build() -> StreamComponents:
        internal = [settings.topic(SHARES_BY_CONTENT), settings.topic(EARLY_SHARERS)]
        await asyncio.to_thread(
            ensure_internal_topics,
            settings.kafka_bootstrap,
            internal,
            INTERNAL_PARTITIONS,
            settings.topic_replication_factor,
        )
        mongo = mongo_client(settings)
        db = mongo[settings.mongo_db]
        ledger, wallets, catalog = LedgerRepository(db), WalletRepository(db), CatalogRepository(db)
        rule_sets, campaigns = RuleSetRepository(db), CampaignRepository(db)
        await prepare_database(ledger.ensure_indexes, wallets.ensure_indexes, catalog.ensure_indexes)
        redemptions = Redemptions(ledger, wallets, catalog)
        # Redemptions a crash left half-done are finished (or rolled back) before the API serves.
        await redemptions.recover(settings.redemption_recovery_after_seconds)
        adapters.repos = Repositories(ledger, wallets, catalog, rule_sets, campaigns, redemptions)
        adapters.deps = Deps(
            ledger, wallets, DayTotalsRepository(db), RulesCache(rule_sets, campaigns, settings.rules_refresh_seconds)
        )
        boards = ReadCache[list[Row]](
            settings.leaderboard_cache_seconds,
            max(settings.leaderboard_max_stale_seconds, settings.leaderboard_cache_seconds),
            name="leaderboards",
        )
        servicer = RewardsServicer(lambda: adapters.repos, boards, settings.leaderboard_timeout_seconds)
        return StreamComponents(
            register=lambda s: rewards_pb2_grpc.add_RewardsServiceServicer_to_server(servicer, s.server),
            service_names=[rewards_pb2.DESCRIPTOR.services_by_name["RewardsService"].full_name],
            mongo=mongo,
        )

    run_stream_service("rewards", settings, app, build)


if __name__ == "__main__":
    main()
