"""Faust agents of the rewards service: `share-made` → ledger entries → `points-awarded`."""

from __future__ import annotations

import time
from collections.abc import Callable

import faust
from advocacy.common.v1.common_pb2 import Network
from advocacy.rewards.v1.rewards_pb2 import LedgerEntry, PointsAwarded
from advocacy.share.v1.share_pb2 import ShareMade

from services.common.events import from_timestamp, to_timestamp
from services.common.metrics import EVENT_PROCESSING_SECONDS, EVENTS_CONSUMED
from services.common.stream import proto_topic
from services.common.topics import POINTS_AWARDED, SHARE_MADE
from services.rewards.adapters.ledger import LedgerRepository, entry_id, ledger_document
from services.rewards.domain.rules import DEFAULT_RULES, ShareFacts, awards_for_share, thank_you


def register_agents(app: faust.App, topic: Callable[[str], str], ledger: Callable[[], LedgerRepository]) -> None:
    shares = proto_topic(app, topic(SHARE_MADE.name), ShareMade)
    points = proto_topic(app, topic(POINTS_AWARDED.name), PointsAwarded)

    @app.agent(shares, name="award-shares")
    async def award_shares(stream: faust.StreamT[ShareMade]) -> None:
        async for event in stream:
            start = time.perf_counter()
            await award_share(event, ledger(), points)
            EVENTS_CONSUMED.labels(SHARE_MADE.name).inc()
            EVENT_PROCESSING_SECONDS.labels(SHARE_MADE.name).observe(time.perf_counter() - start)


async def award_share(event: ShareMade, ledger: LedgerRepository, points_topic: faust.TopicT) -> None:
    """Writes the event's awards (idempotent by entry id), then announces each of them.

    Announcing after every (re)delivery, not only when the insert was new, is deliberate: a crash
    between the ledger write and the send must not lose the thank-you. Its event id is the entry
    id, so consumers see a re-announcement as the same event.
    """
    rules = DEFAULT_RULES
    share = event.share
    network = Network.Name(share.network)
    awards = awards_for_share(ShareFacts(network=network, personal_wording=event.personal_wording), rules)
    occurred_at = from_timestamp(event.occurred_at)
    docs = [
        ledger_document(
            source_event_id=event.event_id,
            rule=a.rule,
            advocate_id=share.advocate_id,
            points=a.points,
            rule_set_version=rules.version,
            campaign_id=event.campaign_id,
            content_id=share.content_id,
            occurred_at=occurred_at,
        )
        for a in awards
    ]
    await ledger.record(docs)
    first_name = event.advocate.display_name.split(" ")[0]
    for award in awards:
        eid = entry_id(event.event_id, award.rule)
        entry = LedgerEntry(
            entry_id=eid,
            advocate_id=share.advocate_id,
            points=award.points,
            rule=award.rule,
            rule_set_version=rules.version,
            source_event_id=event.event_id,
            campaign_id=event.campaign_id,
            occurred_at=to_timestamp(occurred_at),
            content_id=share.content_id,
        )
        await points_topic.send(
            key=share.advocate_id,
            value=PointsAwarded(
                event_id=eid,
                occurred_at=event.occurred_at,
                entry=entry,
                thank_you=thank_you(first_name, award, network, share.audience_size),
            ),
        )
