"""Faust agents of the rewards service.

- `award` consumes `share-made`, `engagement-observed` and the internal early-sharer topic, all
  keyed (and so partitioned) by advocate id, in ONE agent: one advocate's events are evaluated one
  at a time against its state in the `rewards-advocates` table (co-partitioned with the topics).
- `route-shares` + `rank-early-sharers`: early sharer needs state per *content item* across
  advocates, so shares are repartitioned by content id into an internal topic; a content-keyed
  table ranks the first sharers, and each early sharer's share goes back, keyed by advocate, to the
  internal early-sharer topic that `award` consumes (so the daily cap sees the bonus like any award).

Batches: `award` takes up to TAKE_MAX_EVENTS messages (or what arrives within BATCH_WITHIN_SECONDS),
dead-letters the poison among them, and processes the good events in batches of up to
BATCH_MAX_EVENTS: it evaluates them in memory, in arrival order, against the advocates' table
states (pure domain code), then does the effects in bulk: the batch's day reservations in one
insert, all ledger entries in one unordered `insert_many`, one wallet link per advocate, every
`points-awarded` send in flight at once. A take's offsets are acknowledged only after all of it is
done; a take that fails (database down) is retried in place until it succeeds (`until_done`),
never skipped.

Exactly-once in effect, without Kafka transactions:
- the advocate's state records the last source offset applied per input partition; it is written
  to the table only after ALL the batch's effects are done (ledger entries stored, wallet links
  inserted, every announcement acknowledged by Kafka), and the state changelog is flushed before
  offsets are committed, so after a crash the recovered state is a prefix of what was processed;
- an event the state already covers is skipped: its effects were complete before the state said
  so (this is why the announcements' acks are awaited before the table writes);
- an event the state does not cover is evaluated against that prefix state (first share,
  duplicates, streaks and click de-duplication depend only on the order within one partition, so
  the outcome is the same); entries a crashed run already stored win (`LedgerRepository.record`
  keeps them, ledger entry id = "<source event id>:<rule>", unique);
- the wallet is credited once per source event: every wallet link carries `credited`, the highest
  offset credited so far per source partition, and an advocate's events of one partition are
  credited in offset order, so a redelivered event at or below it is not credited again; an entry
  stored from another Kafka message (the same event sent twice, e.g. an early-sharer bonus
  re-announced after a crash; ledger documents record their `position`) is not credited again;
- the daily cap counts what is reserved for the advocate's local day (DayTotalsRepository): an
  event's points are reserved BEFORE its ledger entries are written and corrected to what the
  ledger holds after, and a redelivered event whose key already holds a reservation reads its
  stored entries first, so the cap stays exact whatever the interleaving of the topics after a
  restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, cast

import faust
from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.rewards.v1.rewards_pb2 import LedgerEntry, PointsAwarded
from advocacy.share.v1.share_pb2 import EngagementKind, EngagementObserved, ShareMade
from faust.types import EventT
from google.protobuf.message import DecodeError
from prometheus_client import Counter

from services.common.events import from_timestamp, to_timestamp
from services.common.logging import get_logger
from services.common.metrics import EVENT_PROCESSING_SECONDS, EVENTS_CONSUMED
from services.common.offsets import InOrder
from services.common.stream import acting_as, dead_letter_all, proto_topic, sort_out, until_done
from services.common.topics import ENGAGEMENT_OBSERVED, POINTS_AWARDED, SHARE_MADE
from services.rewards.adapters.ledger import LedgerRepository, entry_id, ledger_document
from services.rewards.adapters.store import DayTotalsRepository, EventCredit, RulesCache, WalletRepository
from services.rewards.domain.rules import (
    EARLY_SHARER_EVENT_RULES,
    ENGAGEMENT_EVENT_RULES,
    SHARE_EVENT_RULES,
    AdvocateState,
    Award,
    Campaign,
    EarlySharerRanking,
    EngagementFacts,
    RuleSet,
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

# A take is at most this many messages, or what arrived within this time (Faust `take_events`);
# its good events are processed at most BATCH_MAX_EVENTS at a time. Poison costs no database work,
# so it does not count towards a batch: counted, a stream with 4 poison messages per good event
# (R4) made three times the batches, each with its fixed database roundtrips.
TAKE_MAX_EVENTS = 2000
BATCH_MAX_EVENTS = 500
BATCH_WITHIN_SECONDS = 0.25

POINTS_ENTRIES = Counter(
    "advocacy_rewards_ledger_entries_total", "Ledger entries written or re-announced, by outcome", ["outcome"]
)
POINTS_EVENTS_REPLAYED = Counter(
    "advocacy_rewards_replayed_events_total", "Redelivered events whose effects were already complete"
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
    states_table = app.Table(
        "rewards-advocates", key_type=str, value_type=None
    )  # values: JSON (table_value_serializer)
    rankings = app.Table(
        "rewards-early-ranking", key_type=str, value_type=None
    )  # values: JSON (table_value_serializer)

    async def forget_day_totals(sender: Any, *args: Any, **kwargs: Any) -> None:
        # Partitions may come back after another worker wrote their day totals: read them again.
        # (Wallet heads need no such care: a stale head only costs a duplicate-key retry.)
        try:
            deps().days.forget()
        except AttributeError:  # not built yet: nothing cached
            pass

    app.on_partitions_assigned.connect(cast(Any, forget_day_totals))
    in_order = InOrder(app, "award")

    @app.agent(inputs, name="award")
    async def award(stream: faust.StreamT) -> None:
        # Offsets of a batch are acknowledged only after the whole batch is processed, and only
        # in offset order per partition (the state records the highest offset applied).
        async for taken in cast(faust.Stream, stream).take_events(TAKE_MAX_EVENTS, within=BATCH_WITHIN_SECONDS):
            batch = await in_order.admit(taken)
            if not batch:
                continue
            start = time.perf_counter()
            events = await until_done("award", batch, partial(decode_and_process, batch), forget_caches)
            elapsed = (time.perf_counter() - start) / max(len(batch), 1)
            for e in events:
                EVENTS_CONSUMED.labels(e.topic).inc()
                EVENT_PROCESSING_SECONDS.labels(e.topic).observe(elapsed)

    async def decode_and_process(taken: Sequence[EventT]) -> list[Incoming]:
        events = await decode_batch(taken)
        for n in range(0, len(events), BATCH_MAX_EVENTS):
            await process_batch(events[n : n + BATCH_MAX_EVENTS])
        return events

    def forget_caches() -> None:
        # A failed attempt may have reserved day totals it did not store: read them again.
        deps().days.forget()

    async def decode_batch(batch: Sequence[EventT]) -> list[Incoming]:
        events, poison = sort_out(batch, lambda event: decode(event, _base_name(app, event.message.topic)))
        # All in flight at once, acknowledged before the batch's offsets are.
        await dead_letter_all(app, poison)
        return events

    async def process_batch(events: list[Incoming]) -> None:
        d = deps()
        rules = await d.cache.rules()
        states: dict[str, AdvocateState] = {}
        last_event: dict[str, EventT] = {}
        for e in events:
            if e.advocate_id not in states:
                states[e.advocate_id] = AdvocateState.from_dict(states_table.get(e.advocate_id))
            last_event[e.advocate_id] = e.event
        await d.days.load()
        # 1. Evaluate in memory, in arrival order (per partition = per advocate offset order).
        done: list[tuple[Incoming, list[dict]]] = []
        existing: dict[str, dict] = {}  # entries a crashed run stored already (read back by _id)
        replayed = 0
        for e in events:
            state = states[e.advocate_id]
            if state.already_applied(e.source, e.offset):
                # Redelivered after a crash: its effects were all done before the state said so.
                replayed += 1
                continue
            awards = e.evaluate(state, rules, await d.cache.campaign(e.campaign_id))
            docs: list[dict] = []
            # Reserved by an earlier run that crashed before its state was written: the ledger
            # may hold this event's entries, and they win (so the day total stays exact).
            maybe_stored = d.days.reserved(e.advocate_id, e.day, e.key)
            if awards:
                awards = apply_daily_cap(awards, d.days.others(e.advocate_id, e.day, e.key), rules)
                docs = [e.ledger_document(a, rules.version) for a in awards]
            if maybe_stored:
                # Every rule's entry id, not only this evaluation's: the crashed run may have used
                # another rule set version, and all it stored is credited (wallet = ledger).
                stored = await d.ledger.stored([entry_id(e.source_id, rule) for rule in e.possible_rules])
                existing.update(stored)
                docs = [*stored.values(), *(doc for doc in docs if doc["_id"] not in stored)]
            if awards or maybe_stored:
                d.days.reserve(e.advocate_id, e.day, e.key, sum(int(x["points"]) for x in docs))
            state.mark_applied(e.source, e.offset)
            done.append((e, docs))
        if replayed:
            POINTS_EVENTS_REPLAYED.inc(replayed)
        # 2. The effects in bulk: day reservations before the ledger entries they guard.
        await d.days.flush()
        new_docs = [doc for _, docs in done for doc in docs if doc["_id"] not in existing]
        stored_docs = {**existing, **{doc["_id"]: doc for doc in await d.ledger.record(new_docs)}}
        credits: dict[str, list[EventCredit]] = {}
        for e, docs in done:
            held = [stored_docs[doc["_id"]] for doc in docs]
            if sum(int(x["points"]) for x in held) != sum(int(doc["points"]) for doc in docs):
                # The ledger held another outcome: it wins, also in the day total.
                d.days.reserve(e.advocate_id, e.day, e.key, sum(int(x["points"]) for x in held))
            # Entries stored from another message (the same event sent twice) were credited with it.
            own = sum(int(x["points"]) for x in held if x.get("position", e.position) == e.position)
            credits.setdefault(e.advocate_id, []).append(EventCredit(e.source, e.offset, own))
        await d.wallets.credit_events(credits)
        await d.days.flush()
        acks = []
        for e, docs in done:
            first_name = e.display_name.split(" ")[0] if e.display_name else ""
            for doc in (stored_docs[x["_id"]] for x in docs):
                entry = entry_message(doc)
                line = thank_you(
                    first_name, Award(doc["rule"], int(doc["points"]), int(doc.get("capped", 0))), e.network, e.audience
                )
                # The event id is the entry id: a re-announcement is recognisably the same event.
                acks.append(
                    await points.send(
                        key=e.advocate_id.encode(),
                        value=PointsAwarded(
                            event_id=doc["_id"], occurred_at=entry.occurred_at, entry=entry, thank_you=line
                        ),
                    )
                )
        await asyncio.gather(*acks)
        POINTS_ENTRIES.labels("new").inc(len(new_docs))
        # 3. Written last: the state never claims an event whose effects were not all done.
        for advocate_id, event in last_event.items():
            with acting_as(event):  # the changelog partition is the advocate's
                states_table[advocate_id] = states[advocate_id].to_dict()

    @app.agent(shares_only, name="route-shares")
    async def route_shares(stream: faust.StreamT) -> None:
        # In batches: a per-event loop cost more than the routing itself (R4's poison runs).
        async for batch in cast(faust.Stream, stream).take_events(BATCH_MAX_EVENTS, within=BATCH_WITHIN_SECONDS):
            await until_done("route-shares", batch, partial(route_all, batch))

    async def route_all(batch: Sequence[EventT]) -> None:
        # In order (the early-sharer ranking is by arrival per item); a retry re-sends, and the
        # ranking and the award side de-duplicate.
        for event in batch:
            try:
                share = ShareMade.FromString(event.value)
            except DecodeError:
                continue  # the award agent dead-letters it
            if share.share.content_id:
                await by_content.send(key=share.share.content_id.encode(), value=event.value)

    @app.agent(by_content, name="rank-early-sharers")
    async def rank_early(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await until_done("rank-early-sharers", [event], partial(rank, event))

    async def rank(event: EventT) -> None:
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


@dataclass
class Incoming:
    """One decoded input event of the award agent, with what evaluation and the effects need."""

    event: EventT
    topic: str  # base name: share-made, engagement-observed or the early-sharer topic
    source: str  # "<topic>/<partition>": the offsets the state records are per source
    offset: int
    advocate_id: str
    key: str  # the event's key in day totals (the share's key + ":early" for its early bonus)
    source_id: str  # the source event id: ledger entry ids are "<source id>:<rule>"
    at: datetime
    day: str  # the advocate's local day
    campaign_id: str
    content_id: str
    snapshot: AdvocateSnapshot
    network: str
    audience: int
    share: ShareMade | None = None
    engagement: EngagementObserved | None = None

    @property
    def display_name(self) -> str:
        return self.snapshot.display_name

    def evaluate(self, state: AdvocateState, rules: RuleSet, campaign: Campaign | None) -> list[Award]:
        """The event's awards before the daily cap (pure domain code; updates `state`)."""
        factor = campaign_factor(campaign, self.at)
        if self.engagement is not None:
            eng = self.engagement
            facts = EngagementFacts(
                kind=EngagementKind.Name(eng.kind),
                count=eng.count,
                share_id=eng.share_id,
                occurred_at=self.at,
                actor_fingerprint=eng.actor_fingerprint,
                is_bot=eng.is_bot,
                is_self=eng.is_self,
            )
            return evaluate_engagement(state, facts, rules, factor)
        if self.topic == SHARE_MADE.name:
            assert self.share is not None
            share_facts = ShareFacts(
                self.network, self.share.personal_wording, self.content_id, self.at, self.snapshot.timezone
            )
            return evaluate_share(state, share_facts, rules, factor)
        return early_sharer_award(rules, factor)

    @property
    def possible_rules(self) -> tuple[str, ...]:
        """Every rule that may have awarded this event, under any rule set version."""
        if self.engagement is not None:
            return ENGAGEMENT_EVENT_RULES
        return SHARE_EVENT_RULES if self.topic == SHARE_MADE.name else EARLY_SHARER_EVENT_RULES

    @property
    def position(self) -> str:
        """Which Kafka message this is: a producer may send one event twice (at-least-once)."""
        return f"{self.source}@{self.offset}"

    def ledger_document(self, award: Award, rule_set_version: int) -> dict:
        doc = ledger_document(
            source_event_id=self.source_id,
            rule=award.rule,
            advocate_id=self.advocate_id,
            points=award.points,
            capped=award.capped,
            rule_set_version=rule_set_version,
            campaign_id=self.campaign_id,
            content_id=self.content_id,
            occurred_at=self.at,
            team=self.snapshot.team,
            leader=self.snapshot.leader,
            local_day=self.day,
            units=award.units,
        )
        doc["position"] = self.position
        return doc


def decode(event: EventT, topic: str) -> Incoming:
    """Raises DecodeError (undecodable) or ValueError (unusable)."""
    message = event.message
    source = f"{message.topic}/{message.partition}"
    if topic == ENGAGEMENT_OBSERVED.name:
        eng = EngagementObserved.FromString(event.value)
        at = from_timestamp(eng.occurred_at)
        incoming = Incoming(
            event=event,
            topic=topic,
            source=source,
            offset=message.offset,
            advocate_id=eng.advocate.advocate_id,
            key=eng.event_id,
            source_id=eng.event_id,
            at=at,
            day=local_day(at, eng.advocate.timezone).isoformat(),
            campaign_id=eng.campaign_id,
            content_id=eng.content_id,
            snapshot=eng.advocate,
            network=Network.Name(eng.network),
            audience=0,
            engagement=eng,
        )
    else:
        share = ShareMade.FromString(event.value)
        at = from_timestamp(share.occurred_at)
        incoming = Incoming(
            event=event,
            topic=topic,
            source=source,
            offset=message.offset,
            advocate_id=share.share.advocate_id,
            key=share.event_id if topic == SHARE_MADE.name else f"{share.event_id}:early",
            source_id=share.event_id,
            at=at,
            day=local_day(at, share.advocate.timezone).isoformat(),
            campaign_id=share.campaign_id,
            content_id=share.share.content_id,
            snapshot=share.advocate,
            network=Network.Name(share.share.network),
            audience=share.share.audience_size,
            share=share,
        )
    if not incoming.advocate_id or not incoming.source_id:
        raise ValueError("advocate_id and event_id are required")
    return incoming


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
