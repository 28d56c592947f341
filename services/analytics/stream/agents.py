"""Faust agents of the analytics service: `share-made` → share facts."""

from __future__ import annotations

import time
from collections.abc import Callable

import faust
from advocacy.common.v1.common_pb2 import Network
from advocacy.share.v1.share_pb2 import ShareMade

from services.analytics.adapters.facts import ShareFactRepository
from services.common.events import from_timestamp
from services.common.metrics import EVENT_PROCESSING_SECONDS, EVENTS_CONSUMED
from services.common.stream import proto_topic
from services.common.topics import SHARE_MADE


def register_agents(app: faust.App, topic: Callable[[str], str], facts: Callable[[], ShareFactRepository]) -> None:
    shares = proto_topic(app, topic(SHARE_MADE.name), ShareMade)

    @app.agent(shares, name="count-shares")
    async def count_shares(stream: faust.StreamT[ShareMade]) -> None:
        async for event in stream:
            start = time.perf_counter()
            share = event.share
            await facts().record(
                event_id=event.event_id,
                content_id=share.content_id,
                advocate_id=share.advocate_id,
                team=event.advocate.team,
                leader=event.advocate.leader,
                campaign_id=event.campaign_id,
                network=Network.Name(share.network),
                audience_size=share.audience_size,
                occurred_at=from_timestamp(event.occurred_at),
            )
            EVENTS_CONSUMED.labels(SHARE_MADE.name).inc()
            EVENT_PROCESSING_SECONDS.labels(SHARE_MADE.name).observe(time.perf_counter() - start)
