"""Composition root of the rewards service: `python -m services.rewards` (a Faust worker + gRPC)."""

from __future__ import annotations

from advocacy.rewards.v1 import rewards_pb2, rewards_pb2_grpc

from services.common.mongo import mongo_client
from services.common.stream import StreamComponents, create_app, run_stream_service
from services.rewards.adapters.ledger import LedgerRepository
from services.rewards.api.servicer import RewardsServicer
from services.rewards.config import RewardsSettings
from services.rewards.stream.agents import register_agents


class _Adapters:
    """Filled in on the worker's event loop, before any agent runs (the async client binds to it)."""

    ledger: LedgerRepository


def main() -> None:
    settings = RewardsSettings()
    app = create_app("rewards", settings)
    adapters = _Adapters()
    register_agents(app, settings.topic, lambda: adapters.ledger)

    async def build() -> StreamComponents:
        mongo = mongo_client(settings)
        adapters.ledger = LedgerRepository(mongo[settings.mongo_db])
        await adapters.ledger.ensure_indexes()
        servicer = RewardsServicer(lambda: adapters.ledger)
        return StreamComponents(
            register=lambda s: rewards_pb2_grpc.add_RewardsServiceServicer_to_server(servicer, s.server),
            service_names=[rewards_pb2.DESCRIPTOR.services_by_name["RewardsService"].full_name],
            mongo=mongo,
        )

    run_stream_service("rewards", settings, app, build)


if __name__ == "__main__":
    main()
