"""Baseline (b) of P1: a naive Faust agent that awards and aggregates one event at a time.

Every event is decoded, evaluated with the same pure point rules as the rewards service, turned
into the same analytics counters, and written with ONE awaited `insert_one` before the next event
is taken: the straightforward way to write a stream processor, and what batching is measured against.
"""

from __future__ import annotations

from collections import defaultdict

import faust
from advocacy.common.v1.common_pb2 import Network
from advocacy.share.v1.share_pb2 import EngagementKind, EngagementObserved, ShareMade
from pymongo import AsyncMongoClient

from services.common.events import from_timestamp
from services.common.mongo import mongo_client
from services.common.stream import StreamSettings
from services.common.topics import ENGAGEMENT_OBSERVED, SHARE_MADE
from services.rewards.domain.rules import (
    DEFAULT_RULES,
    AdvocateState,
    EngagementFacts,
    ShareFacts,
    evaluate_engagement,
    evaluate_share,
)


def main() -> None:
    settings = StreamSettings()
    app = faust.App(
        id=f"{settings.topic_prefix}bench-naive",
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        web_enabled=False,
        autodiscover=False,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=settings.broker_commit_interval_seconds,
        worker_redirect_stdouts=False,
    )
    share_t, engagement_t = settings.topic(SHARE_MADE.name), settings.topic(ENGAGEMENT_OBSERVED.name)
    inputs = app.topic(share_t, engagement_t, key_serializer="raw", value_serializer="raw")
    states: dict[str, AdvocateState] = defaultdict(AdvocateState)
    client: list[AsyncMongoClient] = []

    @app.agent(inputs, name="naive")
    async def naive(stream: faust.StreamT) -> None:
        if not client:
            client.append(mongo_client(settings))
        facts = client[0][settings.mongo_db]["naive"]
        async for event in stream.events():
            if event.message.topic == share_t:
                share = ShareMade.FromString(event.value)
                at = from_timestamp(share.occurred_at)
                network = Network.Name(share.share.network)
                s = ShareFacts(network, share.personal_wording, share.share.content_id, at, share.advocate.timezone)
                awards = evaluate_share(states[share.share.advocate_id], s, DEFAULT_RULES)
                doc = {"_id": share.event_id, "advocate_id": share.share.advocate_id, "shares": 1}
                doc["potential_reach"] = share.share.audience_size
            else:
                eng = EngagementObserved.FromString(event.value)
                e = EngagementFacts(
                    EngagementKind.Name(eng.kind),
                    eng.count,
                    eng.share_id,
                    from_timestamp(eng.occurred_at),
                    eng.actor_fingerprint,
                    eng.is_bot,
                    eng.is_self,
                )
                awards = evaluate_engagement(states[eng.advocate.advocate_id], e, DEFAULT_RULES)
                doc = {
                    "_id": eng.event_id,
                    "advocate_id": eng.advocate.advocate_id,
                    EngagementKind.Name(eng.kind): eng.count,
                }
            doc["points"] = sum(a.points for a in awards)
            await facts.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    faust.Worker(app, loglevel="warning", redirect_stdouts=False).execute_from_commandline()


if __name__ == "__main__":
    main()
