"""Composition root of the analytics service: `python -m services.analytics` (a Faust worker + gRPC)."""

from __future__ import annotations

from advocacy.analytics.v1 import analytics_pb2, analytics_pb2_grpc

from services.analytics.adapters.facts import ShareFactRepository
from services.analytics.api.servicer import AnalyticsServicer
from services.analytics.config import AnalyticsSettings
from services.analytics.stream.agents import register_agents
from services.common.mongo import mongo_client
from services.common.stream import StreamComponents, create_app, run_stream_service


class _Adapters:
    """Filled in on the worker's event loop, before any agent runs (the async client binds to it)."""

    facts: ShareFactRepository


def main() -> None:
    settings = AnalyticsSettings()
    app = create_app("analytics", settings)
    adapters = _Adapters()
    register_agents(app, settings.topic, lambda: adapters.facts)

    async def build() -> StreamComponents:
        mongo = mongo_client(settings)
        adapters.facts = ShareFactRepository(mongo[settings.mongo_db])
        await adapters.facts.ensure_indexes()
        servicer = AnalyticsServicer(lambda: adapters.facts)
        return StreamComponents(
            register=lambda s: analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server(servicer, s.server),
            service_names=[analytics_pb2.DESCRIPTOR.services_by_name["AnalyticsService"].full_name],
            mongo=mongo,
        )

    run_stream_service("analytics", settings, app, build)


if __name__ == "__main__":
    main()
