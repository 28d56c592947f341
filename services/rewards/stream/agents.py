"""Faust agents of the rewards service.

- `award` consumes `share-made`, `engagement-observed` and the internal early-sharer topic, all
  keyed (and so partitioned) by advocate id, in ONE agent: one advocate's events are evaluated one
  at a time against its state in the `rewards-advocates` table (co-partitioned with the topics).
- `route-shares` + `rank-early-sharers`: early sharer needs state per *content item* across
  advocates, so shares are repartitioned by content id into an internal topic; a content-keyed
  table ranks the first sharers, and each early sharer's share goes back, keyed by advocate, to the
  internal early-sharer topic that `award` consumes (so the daily cap sees the bonus like any award).

Exactly-once in effect, without Kafka transactions:
- the advocate's state records the last source offset applied per input partition; it is written
  to the table only after the event's effects (ledger, wallet, announcements) are done, and the
  state changelog is flushed before offsets are committed, so after a crash the recovered state is
  a prefix of what was processed;
- an event the state already covers is not evaluated again: its entries are read back from the
  ledger and re-credited (idempotent per event key) and re-announced (same event ids);
- an event the state does not cover is evaluated against that prefix state (first share,
  duplicates, streaks and click de-duplication depend only on the order within one partition, so
  the outcome is the same) and `LedgerRepository.record` keeps any entries already stored;
- the daily cap counts what the ledger already holds for the advocate's day, so it stays exact
  whatever the interleaving of the topics after a restart.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import faust
from advocacy.common.v1.common_pb2 import Network
from advocacy.rewards.v1.rewards_pb2 import LedgerEntry, PointsAwarded
from advocacy.share.v1.share_pb2 import EngagementKind, EngagementObserved, ShareMade
from faust.types import EventT
from google.protobuf.message import DecodeError
from prometheus_client import Counter

from services.common.events import from_timestamp, to_timestamp
from services.common.logging import get_logger
from services.common.metrics import EVENT_PROCESSING_SECONDS, EVENTS_CONSUMED
from services.common.stream import dead_letter, proto_topic
from services.common.topics import ENGAGEMENT_OBSERVED, POINTS_AWARDED, SHARE_MADE
from services.rewards.adapters.ledger import LedgerRepository, ledger_document
from services.rewards.adapters.store import DayTotalsRepository, RulesCache, WalletRepository
from services.rewards.domain.rules import (
    AdvocateState,
    Award,
    EarlySharerRanking,
    EngagementFacts,
    ShareFacts,
    apply_daily_cap,
    campaign_factor,
    early_sharer_award,
    evaluate_engagement,
    evaluate_share,
    local_day,
    rank_early_sharer,
    thank_you,
)

log = get_logger(__name__)

SHARES_BY_CONTENT = "rewards-shares-by-content"
EARLY_SHARERS = "rewards-early-sharers"
INTERNAL_PARTITIONS = 8  # = the advocate-keyed topics, so the early-sharer topic is co-partitioned

POINTS_ENTRIES = Counter(
    "advocacy_rewards_ledger_entries_total", "Ledger entries written or re-announced, by outcome", ["outcome"]
)


@dataclass
class Deps:
    ledger: LedgerRepository
    wallets: WalletRepository
    days: DayTotalsRepository
    cache: RulesCache


def register_agents(app: faust.App, topic: Callable[[str], str], deps: Callable[[], Deps]) -> None:
    share_t, engagement_t = topic(SHARE_MADE.name), topic(ENGAGEMENT_OBSERVED.name)
    early_t, by_content_t = topic(EARLY_SHARERS), topic(SHARES_BY_CONTENT)
    points = proto_topic(app, topic(POINTS_AWARDED.name), PointsAwarded)
    inputs = app.topic(
        share_t,
        engagement_t,
        early_t,
        key_type=None,
        value_type=None,
        key_serializer="raw",
        value_serializer="raw",
        partitions=INTERNAL_PARTITIONS,
    )
    shares_only = app.topic(share_t, key_serializer="raw", value_serializer="raw")
    by_content = app.topic(
        by_content_t, key_serializer="raw", value_serializer="raw", partitions=INTERNAL_PARTITIONS, internal=True
    )
    early = app.topic(
        early_t, key_serializer="raw", value_serializer="raw", partitions=INTERNAL_PARTITIONS, internal=True
    )
    states = app.Table("rewards-advocates", key_type=str, value_type=None)  # values: JSON (table_value_serializer)
    rankings = app.Table(
        "rewards-early-ranking", key_type=str, value_type=None
    )  # values: JSON (table_value_serializer)

    @app.agent(inputs, name="award")
    async def award(stream: faust.StreamT) -> None:
        async for event in stream.events():
            name = _base_name(app, event.message.topic)
            start = time.perf_counter()
            try:
                await process(event, name)
            except DecodeError as exc:
                await dead_letter(app, event.message, "undecodable_value", exc)
                continue
            except ValueError as exc:
                await dead_letter(app, event.message, "invalid", exc)
                continue
            EVENTS_CONSUMED.labels(name).inc()
            EVENT_PROCESSING_SECONDS.labels(name).observe(time.perf_counter() - start)

    async def process(event: EventT, name: str) -> None:
        d = deps()
        raw = event.value
        source = f"{event.message.topic}/{event.message.partition}"
        offset = event.message.offset
        if name == ENGAGEMENT_OBSERVED.name:
            eng = EngagementObserved.FromString(raw)
            advocate_id, key = eng.advocate.advocate_id, eng.event_id
            snapshot, network, audience = eng.advocate, Network.Name(eng.network), 0
        else:
            share = ShareMade.FromString(raw)
            advocate_id = share.share.advocate_id
            key = share.event_id if name == SHARE_MADE.name else f"{share.event_id}:early"
            snapshot, network, audience = share.advocate, Network.Name(share.share.network), share.share.audience_size
        if not advocate_id or not key:
            raise ValueError("advocate_id and event_id are required")
        state = AdvocateState.from_dict(states.get(advocate_id))
        if state.already_applied(source, offset):
            # Redelivered after a crash: the effects again, from the ledger, never a new evaluation.
            source_id = key.removesuffix(":early")
            stored = await d.ledger.by_source(source_id)
            if name == EARLY_SHARERS:
                stored = [x for x in stored if x["rule"] == "early_sharer"]
            elif name == SHARE_MADE.name:
                stored = [x for x in stored if x["rule"] != "early_sharer"]
            await effects(d, advocate_id, key, stored, snapshot.display_name, network, audience, "replayed")
            return
        rules = await d.cache.rules()
        if name == ENGAGEMENT_OBSERVED.name:
            at = from_timestamp(eng.occurred_at)
            campaign_id, content_id, source_id = eng.campaign_id, eng.content_id, eng.event_id
            facts = EngagementFacts(
                kind=EngagementKind.Name(eng.kind),
                count=eng.count,
                share_id=eng.share_id,
                occurred_at=at,
                actor_fingerprint=eng.actor_fingerprint,
                is_bot=eng.is_bot,
                is_self=eng.is_self,
            )
            factor = campaign_factor(await d.cache.campaign(campaign_id), at)
            awards: list[Award] = evaluate_engagement(state, facts, rules, factor)
        else:
            at = from_timestamp(share.occurred_at)
            campaign_id, content_id, source_id = share.campaign_id, share.share.content_id, share.event_id
            factor = campaign_factor(await d.cache.campaign(campaign_id), at)
            if name == SHARE_MADE.name:
                facts_s = ShareFacts(network, share.personal_wording, content_id, at, snapshot.timezone)
                awards = evaluate_share(state, facts_s, rules, factor)
            else:
                awards = early_sharer_award(rules, factor)
        docs: list[dict] = []
        if awards:
            day = local_day(at, snapshot.timezone).isoformat()
            awards = apply_daily_cap(awards, await d.days.others(advocate_id, day, key), rules)
            # Reserved before the ledger write, corrected to what the ledger holds after it.
            await d.days.reserve(advocate_id, day, key, sum(a.points for a in awards))
            docs = await d.ledger.record(
                [
                    ledger_document(
                        source_event_id=source_id,
                        rule=a.rule,
                        advocate_id=advocate_id,
                        points=a.points,
                        capped=a.capped,
                        rule_set_version=rules.version,
                        campaign_id=campaign_id,
                        content_id=content_id,
                        occurred_at=at,
                        team=snapshot.team,
                        leader=snapshot.leader,
                        local_day=day,
                        units=a.units,
                    )
                    for a in awards
                ]
            )
            held = sum(int(x["points"]) for x in docs)
            if held != sum(a.points for a in awards):  # the ledger already held another outcome
                await d.days.reserve(advocate_id, day, key, held)
        await effects(d, advocate_id, key, docs, snapshot.display_name, network, audience, "new")
        state.mark_applied(source, offset)
        # Written last: the state never claims an event whose effects were not done.
        states[advocate_id] = state.to_dict()

    async def effects(
        d: Deps, advocate_id: str, key: str, docs: list[dict], name: str, network: str, audience: int, outcome: str
    ) -> None:
        if not docs:
            return
        await d.wallets.credit(advocate_id, key, sum(int(x["points"]) for x in docs))
        first_name = name.split(" ")[0] if name else ""
        for doc in docs:
            entry = entry_message(doc)
            line = thank_you(
                first_name, Award(doc["rule"], int(doc["points"]), int(doc.get("capped", 0))), network, audience
            )
            # The event id is the entry id: a re-announcement is recognisably the same event.
            await points.send(
                key=advocate_id.encode(),
                value=PointsAwarded(event_id=doc["_id"], occurred_at=entry.occurred_at, entry=entry, thank_you=line),
            )
        POINTS_ENTRIES.labels(outcome).inc(len(docs))

    @app.agent(shares_only, name="route-shares")
    async def route_shares(stream: faust.StreamT) -> None:
        async for event in stream.events():
            try:
                share = ShareMade.FromString(event.value)
            except DecodeError:
                continue  # the award agent dead-letters it
            if share.share.content_id:
                await by_content.send(key=share.share.content_id.encode(), value=event.value)

    @app.agent(by_content, name="rank-early-sharers")
    async def rank_early(stream: faust.StreamT) -> None:
        async for event in stream.events():
            share = ShareMade.FromString(event.value)
            content_id = share.share.content_id
            ranking = EarlySharerRanking.from_dict(rankings.get(content_id))
            before = len(ranking.sharers)
            published = from_timestamp(share.content_published_at) if share.HasField("content_published_at") else None
            ranked = rank_early_sharer(
                ranking,
                share.share.advocate_id,
                share.event_id,
                from_timestamp(share.occurred_at),
                published,
                await deps().cache.rules(),
            )
            if ranked == share.event_id:
                # Also on a replay (the same share ranked before): the award side de-duplicates.
                await early.send(key=share.share.advocate_id.encode(), value=event.value)
            if len(ranking.sharers) != before:
                rankings[content_id] = ranking.to_dict()


def entry_message(doc: dict) -> LedgerEntry:
    return LedgerEntry(
        entry_id=doc["_id"],
        advocate_id=doc["advocate_id"],
        points=int(doc["points"]),
        rule=doc["rule"],
        rule_set_version=int(doc["rule_set_version"]),
        source_event_id=doc["source_event_id"],
        campaign_id=doc.get("campaign_id", ""),
        occurred_at=to_timestamp(doc["occurred_at"]),
        content_id=doc.get("content_id", ""),
        capped_points=int(doc.get("capped", 0)),
        team=doc.get("team", ""),
        leader=bool(doc.get("leader", False)),
        local_day=doc.get("local_day", ""),
        units=int(doc.get("units", 1)),
    )


def _base_name(app: faust.App, topic: str) -> str:
    prefix = getattr(app, "advocacy_topic_prefix", "")
    return topic[len(prefix) :] if prefix and topic.startswith(prefix) else topic
