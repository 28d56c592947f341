"""Composition root of the content service: `python -m services.content`."""

from __future__ import annotations

import asyncio

from advocacy.content.v1 import content_pb2, content_pb2_grpc

from services.common.api_service import ApiComponents, run_api_service
from services.common.kafka import kafka_producer
from services.common.mongo import mongo_client
from services.common.outbox import OutboxRelay
from services.content.adapters.repository import ContentRepository
from services.content.api.servicer import ContentServicer
from services.content.config import ContentSettings


async def build(settings: ContentSettings) -> ApiComponents:
    mongo = mongo_client(settings)
    repository = ContentRepository(mongo[settings.mongo_db])
    relay = OutboxRelay(
        repository.collection,
        lambda: kafka_producer(settings, client_id="content"),
        topic_prefix=settings.topic_prefix,
    )
    servicer = ContentServicer(repository, settings.topic, relay.notify)

    async def start() -> None:
        await repository.ensure_indexes()

    return ApiComponents(
        register=lambda s: content_pb2_grpc.add_ContentServiceServicer_to_server(servicer, s.server),
        service_names=[content_pb2.DESCRIPTOR.services_by_name["ContentService"].full_name],
        mongo=mongo,
        background=[(relay.run, relay.stop)],
        start=start,
    )


def main() -> None:
    settings = ContentSettings()
    asyncio.run(run_api_service("content", settings, lambda: build(settings)))


if __name__ == "__main__":
    main()
