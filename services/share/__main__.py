"""Composition root of the share service: `python -m services.share`."""

from __future__ import annotations

import asyncio

from advocacy.share.v1 import share_pb2, share_pb2_grpc

from services.common.api_service import ApiComponents, run_api_service
from services.common.kafka import kafka_producer
from services.common.mongo import mongo_client
from services.common.outbox import OutboxRelay
from services.share.adapters.content_client import ContentClient
from services.share.adapters.repository import AdvocateRepository, ShareRepository
from services.share.api.servicer import ShareServicer
from services.share.config import ShareSettings


async def build(settings: ShareSettings) -> ApiComponents:
    mongo = mongo_client(settings)
    db = mongo[settings.mongo_db]
    advocates = AdvocateRepository(db)
    shares = ShareRepository(db)
    content = ContentClient(settings.content_addr)
    relay = OutboxRelay(
        shares.collection,
        lambda: kafka_producer(settings, client_id="share"),
        topic_prefix=settings.topic_prefix,
    )
    servicer = ShareServicer(advocates, shares, content, settings.topic, settings.public_base_url, relay.notify)

    async def start() -> None:
        await advocates.ensure_indexes()
        await shares.ensure_indexes()

    return ApiComponents(
        register=lambda s: share_pb2_grpc.add_ShareServiceServicer_to_server(servicer, s.server),
        service_names=[share_pb2.DESCRIPTOR.services_by_name["ShareService"].full_name],
        mongo=mongo,
        background=[(relay.run, relay.stop)],
        start=start,
        close=content.close,
    )


def main() -> None:
    settings = ShareSettings()
    asyncio.run(run_api_service("share", settings, lambda: build(settings)))


if __name__ == "__main__":
    main()
