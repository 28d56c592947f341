"""Faust agents of the rewards service: thin loops over the processors in services/rewards/app.

- `award` consumes `share-made`, `engagement-observed`, `lesson-completed`, the internal
  early-sharer topic and the internal redemption-request topic, all keyed (and so partitioned) by
  advocate id, in ONE agent: one advocate's events are applied one at a time, in partition order,
  to its record in the `rewards-advocates` table (co-partitioned with the topics; see
  app/processor.py for why a crash loses nothing and a redelivery changes nothing).
- `ledger-sink` consumes `points-awarded` and stores the entries in the database ledger in bulk.
- `route-shares` + `rank-early-sharers`: early sharer needs state per *content item* across
  advocates, so shares of items (never advocates' own posts) are repartitioned by content id into
  an internal topic; a content-keyed table ranks the first sharers, and each early sharer's share
  goes back, keyed by advocate, to the internal early-sharer topic that `award` consumes (so the
  daily cap sees the bonus like any award).
  Both take their partitions in offset order (`InOrder`): an advocate's later share of an item
  routed ahead of its first would take the bonus from it. A ranking is durable before its bonus
  goes out, so a replayed share re-sends the same bonus and never ranks another.

Batches adapt to load (`take_adaptive`): a lone event is processed at once; when events arrive
while a batch is processed, the next batch takes what arrives within BATCH_LINGER_SECONDS, so
batches grow under load (a short fixed linger keeps them tiny, each paying its round trips). A take's offsets
are acknowledged only after all of it is done; a take that fails (database down) is retried in
place until it succeeds (`until_done`), never skipped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import faust
from advocacy.rewards.v1.rewards_pb2 import PointsAwarded
from advocacy.share.v1.share_pb2 import ShareMade
from aiokafka.partitioner import DefaultPartitioner
from faust.types import EventT
from google.protobuf.message import DecodeError
from prometheus_client import Counter
from pymongo.errors import PyMongoError

from services.common.batching import process_batches
from services.common.events import from_timestamp, optional_time
from services.common.logging import get_logger
from services.common.offsets import InOrder
from services.common.stream import (
    DurableTable,
    acting_as,
    dead_letter_all,
    durable_table,
    proto_topic,
    sort_out,
    topic_label,
    until_done,
)
from services.common.topics import ENGAGEMENT_OBSERVED, LESSON_COMPLETED, POINTS_AWARDED, SHARE_MADE
from services.rewards.adapters.accounts import ACCOUNTS, AccountBook, records
from services.rewards.adapters.ledger import LedgerRepository, entry_document, entry_message
from services.rewards.adapters.store import (
    CatalogRepository,
    LeaderboardDocuments,
    RedemptionOutcomes,
    RulesCache,
)
from services.rewards.app.boards import BoardKeeper
from services.rewards.app.processor import AwardProcessor
from services.rewards.domain.early_sharers import EarlySharerRanking, rank_early_sharer
from services.rewards.stream.decode import EARLY_SHARERS, REDEMPTION_REQUESTS, SHARES_BY_CONTENT, decode, sweep_message

log = get_logger(__name__)

INTERNAL_PARTITIONS = 8  # = the advocate-keyed topics, so the internal ones are co-partitioned

# A take is at most this many messages; the good events are processed at most BATCH_MAX_EVENTS at a
# time. Poison costs no database work, so it does not count towards a batch.
TAKE_MAX_EVENTS = 2000
BATCH_MAX_EVENTS = 500
BATCH_LINGER_SECONDS = 0.05
# How often changed leaderboard documents are written (and missing partitions' boards rebuilt).
BOARDS_EVERY_SECONDS = 1.0
PARTITIONER = DefaultPartitioner()
# A partition not swept yet (app/processor.py) is sent a sweep request again after this long.
SWEEP_AGAIN_SECONDS = 10.0

POINTS_ENTRIES = Counter("advocacy_rewards_ledger_entries_total", "Ledger entries announced, by outcome", ["outcome"])
BOARD_DOCUMENTS = Counter("advocacy_rewards_board_documents_written_total", "Leaderboard documents written")
POINTS_EVENTS_REPLAYED = Counter(
    "advocacy_rewards_replayed_events_total", "Redelivered events whose effects were already complete"
)


@dataclass
class Deps:
    ledger: LedgerRepository
    catalog: CatalogRepository
    outcomes: RedemptionOutcomes
    boards: LeaderboardDocuments
    cache: RulesCache
    accounts: AccountBook  # this replica's view of the account summaries


@dataclass
class TableStates:
    table: DurableTable
    # Per partition (key: its number), the source offsets through which its effects are all done.
    announced: Any

    def get(self, advocate_id: str) -> dict | None:
        return cast(dict | None, self.table.get(advocate_id))

    def by_partition(self, partitions: set[int]) -> dict[int, list[tuple[str, dict]]]:
        # A key's partition is the producers' (murmur2 of the advocate id), as its events'.
        found: dict[int, list[tuple[str, dict]]] = {p: [] for p in partitions}
        every = list(range(INTERNAL_PARTITIONS))
        for advocate_id, state in self.table.items():
            partition = PARTITIONER(advocate_id.encode(), every, every)
            if partition in found:
                found[partition].append((advocate_id, state))
        return found

    def put(self, advocate_id: str, state: dict, event: Any) -> None:
        with acting_as(event):  # the changelog partition is the advocate's
            self.table[advocate_id] = state

    async def changelog_acknowledged(self) -> None:
        await self.table.changelog_acknowledged()

    def announced_through(self, partition: int) -> dict[str, int]:
        return cast(dict[str, int], self.announced.get(str(partition)) or {})

    def record_announced(self, partition: int, through: dict[str, int], event: Any) -> None:
        with acting_as(event):
            self.announced[str(partition)] = through


@dataclass
class KafkaAnnouncer:
    app: faust.App
    topic: str

    async def announce(self, announcements: Sequence[tuple[dict, str]]) -> None:
        # Straight to the producer: Faust's per-message channel machinery (future messages,
        # sensors, debug records) costs more CPU than the award itself.
        producer = self.app.producer
        acks = []
        for doc, line in announcements:
            entry = entry_message(doc)
            # The event id is the entry id: a re-announcement is recognisably the same event.
            value = PointsAwarded(event_id=doc["_id"], occurred_at=entry.occurred_at, entry=entry, thank_you=line)
            key = doc["advocate_id"].encode()
            acks.append(await producer.send(self.topic, key, value.SerializeToString(), None, None, None))
        await asyncio.gather(*acks)
        POINTS_ENTRIES.labels("announced").inc(len(acks))


@dataclass
class LateBoardDocuments:
    """The board documents, once the database client exists (built on the worker's loop)."""

    deps: Callable[[], Deps]

    async def write(self, documents: Sequence[dict]) -> None:
        await self.deps().boards.write(documents)


@dataclass
class AgentSinks:
    """The award agent's ports: redemption outcomes, stock, rules in the database; account
    summaries to the compacted accounts topic the API replicas follow."""

    app: faust.App
    accounts_topic: str
    deps: Callable[[], Deps]

    async def record_outcomes(self, outcomes: Sequence[dict]) -> None:
        await self.deps().outcomes.record(outcomes)

    async def publish_summaries(self, summaries: dict[str, dict[str, int]]) -> None:
        # The states are durable already: this replica shows them at once (it reads its own
        # writes); the others when the records below reach them.
        book = self.deps().accounts
        for advocate_id, summary in summaries.items():
            book.apply(advocate_id, summary)
        send = self.app.producer.send
        acks = [await send(self.accounts_topic, key, value, None, None, None) for key, value in records(summaries)]
        await asyncio.gather(*acks)

    async def claim(self, item_id: str, key: str) -> str | None:
        return await self.deps().catalog.claim(item_id, key)

    async def rules(self) -> Any:
        return await self.deps().cache.rules()

    async def campaign(self, campaign_id: str) -> Any:
        return await self.deps().cache.campaign(campaign_id)


def register_agents(app: faust.App, topic: Callable[[str], str], deps: Callable[[], Deps]) -> faust.TopicT:
    """Registers the agents; returns the redemption-request topic (the API sends to it)."""
    raw = {"key_serializer": "raw", "value_serializer": "raw", "partitions": INTERNAL_PARTITIONS}
    requests = app.topic(topic(REDEMPTION_REQUESTS), internal=True, **raw)  # type: ignore[arg-type]
    inputs = app.topic(
        topic(SHARE_MADE.name),
        topic(ENGAGEMENT_OBSERVED.name),
        topic(LESSON_COMPLETED.name),
        topic(EARLY_SHARERS),
        topic(REDEMPTION_REQUESTS),
        key_type=None,
        value_type=None,
        **raw,  # type: ignore[arg-type]
    )
    points = proto_topic(app, topic(POINTS_AWARDED.name), PointsAwarded)
    states = durable_table(app, "rewards-advocates", key_type=str, value_type=None)  # values: JSON
    announced = app.Table("rewards-announced", key_type=str, value_type=None)
    sinks = AgentSinks(app, topic(ACCOUNTS), deps)
    keeper = BoardKeeper(LateBoardDocuments(deps))
    table_states = TableStates(states, announced)
    announcer = KafkaAnnouncer(app, topic(POINTS_AWARDED.name))
    processor = AwardProcessor(sinks, table_states, announcer, sinks, sinks, keeper)
    in_order = InOrder(app, "award")
    _register_board_materialiser(app, keeper, table_states, topic(SHARE_MADE.name))
    _register_sweeps(app, processor, topic(SHARE_MADE.name), topic(REDEMPTION_REQUESTS))

    @app.agent(inputs, name="award")
    async def award(stream: faust.StreamT) -> None:
        # Offsets of a take are acknowledged only after the whole take is processed, and only in
        # offset order per partition (the state records the highest offset applied).
        await process_batches(stream, in_order, "award", decode_and_process, TAKE_MAX_EVENTS, BATCH_LINGER_SECONDS)

    async def decode_and_process(taken: Sequence[EventT]) -> list[str]:
        events, poison = sort_out(taken, lambda event: decode(event, topic_label(app, event.message.topic)))
        await dead_letter_all(app, poison)  # all in flight at once, acknowledged before the offsets
        for n in range(0, len(events), BATCH_MAX_EVENTS):
            effects = await processor.process(events[n : n + BATCH_MAX_EVENTS])
            POINTS_EVENTS_REPLAYED.inc(effects.replayed)
        return [topic_label(app, e.event.message.topic) for e in events]

    _register_ledger_sink(app, points, deps)
    _register_early_sharers(app, topic, deps)
    return requests


def _register_ledger_sink(app: faust.App, points: faust.TopicT, deps: Callable[[], Deps]) -> None:
    """Stores every announced award in the database ledger, once per entry id."""
    sink_order = InOrder(app, "ledger-sink")

    @app.agent(points, name="ledger-sink")
    async def ledger_sink(stream: faust.StreamT) -> None:
        # In offset order too: an event Faust delivers ahead of unprocessed ones would otherwise
        # leave them never fetched again.
        await process_batches(stream, sink_order, "ledger-sink", store_entries, TAKE_MAX_EVENTS, BATCH_LINGER_SECONDS)

    async def store_entries(taken: Sequence[EventT]) -> None:
        docs, poison = sort_out(taken, lambda event: entry_document(cast(PointsAwarded, event.value).entry))
        await dead_letter_all(app, poison)
        new = await deps().ledger.insert(docs)
        POINTS_ENTRIES.labels("stored").inc(new)


def _register_board_materialiser(app: faust.App, keeper: BoardKeeper, states: TableStates, share_topic: str) -> None:
    """Rebuilds the boards of partitions this worker got, and writes changed board documents."""

    async def forget_boards(sender: Any, *args: Any, **kwargs: Any) -> None:
        keeper.keep_only([])  # rebuilt from the recovered states of what this worker owns then

    app.on_partitions_revoked.connect(cast(Any, forget_boards))

    @app.timer(interval=BOARDS_EVERY_SECONDS, on_leader=False)
    async def materialise_boards() -> None:
        if app.rebalancing:  # partitions moving, or their tables still recovering
            return
        # The partitions of a source topic this consumer has: its active advocate partitions.
        owned = {tp.partition for tp in app.consumer.assignment() if tp.topic == share_topic}
        keeper.keep_only(owned)
        missing = keeper.missing(owned)
        if missing:
            keeper.build(states.by_partition(missing))
            log.info("boards_rebuilt", partitions=sorted(missing))
        try:
            BOARD_DOCUMENTS.inc(await keeper.materialise())
        except PyMongoError as exc:  # the database is away: written at a later tick
            log.warning("boards_not_written", error=str(exc)[:300])


def _register_sweeps(app: faust.App, processor: AwardProcessor, share_topic: str, requests_topic: str) -> None:
    """A partition this worker got is searched for outboxes not announced by its first batch; one
    with no traffic gets a sweep request, so a crash's last effects go out without new events."""
    requested: dict[int, float] = {}

    async def forget_sweeps(sender: Any, *args: Any, **kwargs: Any) -> None:
        processor.swept.clear()  # another worker may have written these partitions meanwhile
        requested.clear()

    app.on_partitions_revoked.connect(cast(Any, forget_sweeps))

    @app.timer(interval=BOARDS_EVERY_SECONDS, on_leader=False)
    async def request_sweeps() -> None:
        if app.rebalancing:
            return
        owned = {tp.partition for tp in app.consumer.assignment() if tp.topic == share_topic}
        now = time.monotonic()
        due = [p for p in owned - processor.swept if now - requested.get(p, -1e9) >= SWEEP_AGAIN_SECONDS]
        acks = [await app.producer.send(requests_topic, None, sweep_message(), p, None, None) for p in due]
        await asyncio.gather(*acks)
        requested.update((p, now) for p in due)


def _register_early_sharers(app: faust.App, topic: Callable[[str], str], deps: Callable[[], Deps]) -> None:
    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    shares_only = app.topic(topic(SHARE_MADE.name), **raw)  # type: ignore[arg-type]
    by_content = app.topic(
        topic(SHARES_BY_CONTENT),
        partitions=INTERNAL_PARTITIONS,
        internal=True,
        **raw,  # type: ignore[arg-type]
    )
    by_content_name, early_name = topic(SHARES_BY_CONTENT), topic(EARLY_SHARERS)
    rankings = durable_table(app, "rewards-early-ranking", key_type=str, value_type=None)  # values: JSON
    routing, ranking_order = InOrder(app, "route-shares"), InOrder(app, "rank-early-sharers")

    @app.agent(shares_only, name="route-shares")
    async def route_shares(stream: faust.StreamT) -> None:
        await process_batches(stream, routing, "route-shares", route_all, BATCH_MAX_EVENTS, BATCH_LINGER_SECONDS)

    async def route_all(batch: Sequence[EventT]) -> None:
        # In order (the early-sharer ranking is by arrival per item); a retry re-sends, and the
        # ranking and the award side de-duplicate.
        acks = []
        for event in batch:
            try:
                share = ShareMade.FromString(event.value)
            except DecodeError:
                continue  # the award agent dead-letters it
            # Own posts have no item to be early on: never ranked.
            if share.share.content_id and not share.share.own_post:
                key = share.share.content_id.encode()
                acks.append(await app.producer.send(by_content_name, key, event.value, None, None, None))
        await asyncio.gather(*acks)  # acknowledged before the batch's offsets are

    @app.agent(by_content, name="rank-early-sharers")
    async def rank_early(stream: faust.StreamT) -> None:
        async for event in stream.events():
            if await ranking_order.admit([event]):
                await until_done("rank-early-sharers", [event], partial(rank, event))

    async def rank(event: EventT) -> None:
        share = ShareMade.FromString(event.value)
        content_id = share.share.content_id
        ranking = EarlySharerRanking.from_dict(rankings.get(content_id))
        before = len(ranking.sharers)
        published = optional_time(share, "content_published_at")
        ranked = rank_early_sharer(
            ranking,
            share.share.advocate_id,
            share.event_id,
            from_timestamp(share.occurred_at),
            published,
            await deps().cache.rules(),
        )
        if len(ranking.sharers) != before:
            rankings[content_id] = ranking.to_dict()
            await rankings.changelog_acknowledged()
        if ranked == share.event_id:
            # Also on a replay (the same share ranked before): the award side de-duplicates.
            await (await app.producer.send(early_name, share.share.advocate_id.encode(), event.value, None, None, None))
