"""The rewards API and the award processor on the real MongoDB-protocol server, without Kafka:
redemption requests go straight to the processor (one partition owner, in order), announced
entries straight to the ledger sink. The Kafka path is tested with real workers
(test_rewards_stream.py, test_rewards_redemption_concurrency.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.common.read_cache import ReadCache
from services.rewards.adapters.accounts import AccountBook
from services.rewards.adapters.ledger import LedgerRepository, ledger_document
from services.rewards.adapters.store import (
    CampaignRepository,
    CatalogRepository,
    LeaderboardDocuments,
    RedemptionOutcomes,
    RulesCache,
    RuleSetRepository,
)
from services.rewards.api.servicer import Repositories, RewardsServicer
from services.rewards.app.boards import BoardKeeper
from services.rewards.app.incoming import REDEMPTION_KIND, Incoming, RedemptionRequest
from services.rewards.app.processor import AwardProcessor
from services.rewards.app.redemption import Redemptions
from services.rewards.domain import account
from services.rewards.domain.boards import Row
from services.rewards.domain.rules import AdvocateState


class InProcessAccounts:
    """The accounts view without Kafka: the book, given each summary as the agent publishes it."""

    def __init__(self) -> None:
        self.book = AccountBook()

    async def get(self, advocate_id: str) -> dict[str, int]:
        return self.book.get(advocate_id)


@dataclass
class Harness:
    db: AsyncDatabase
    states: dict[str, dict] = field(default_factory=dict)  # durable
    written: dict[str, dict] = field(default_factory=dict)  # put, the changelog not acknowledged yet
    through: dict[int, dict[str, int]] = field(default_factory=dict)
    offset: int = 0
    fail_changelog: bool = False

    def __post_init__(self) -> None:
        self.ledger, self.catalog = LedgerRepository(self.db), CatalogRepository(self.db)
        self.accounts, self.outcomes = InProcessAccounts(), RedemptionOutcomes(self.db)
        self.cache = RulesCache(RuleSetRepository(self.db), CampaignRepository(self.db), refresh_seconds=0)
        self.redemptions = Redemptions(self.catalog, self.outcomes, self.send, timeout_seconds=20)
        self.repos = Repositories(
            self.ledger,
            self.accounts,
            LeaderboardDocuments(self.db, partitions=1),
            self.catalog,
            self.cache.rule_sets,
            self.cache.campaigns,
            self.redemptions,
        )
        self.board_documents = LeaderboardDocuments(self.db, partitions=1)
        self.keeper = BoardKeeper(self.board_documents)
        self.processor = AwardProcessor(self.cache, self, self, self, self, self.keeper)
        self._lock = asyncio.Lock()  # one partition owner: requests are applied one batch at a time
        self._tasks: set[asyncio.Task] = set()

    def servicer(self, boards: ReadCache[list[Row]] | None = None) -> RewardsServicer:
        return RewardsServicer(lambda: self.repos, boards)

    # Ports of the processor (StateStore, Announcer, Stock, Sinks).
    def get(self, advocate_id: str) -> dict | None:
        return self.states.get(advocate_id)

    def put(self, advocate_id: str, state: dict, event: Any) -> None:
        self.written[advocate_id] = state

    async def changelog_acknowledged(self) -> None:
        written, self.written = self.written, {}
        if self.fail_changelog:  # and the worker dies: its puts are lost
            raise RuntimeError("crash before the state was durable")
        self.states.update(written)

    def announced_through(self, partition: int) -> dict[str, int]:
        return self.through.get(partition, {})

    def record_announced(self, partition: int, through: dict[str, int], event: Any) -> None:
        self.through[partition] = through

    def by_partition(self, partitions: set[int]) -> dict[int, list[tuple[str, dict]]]:
        return {p: list(self.states.items()) for p in partitions}  # one partition: 0

    async def announce(self, announcements: Sequence[tuple[dict, str]]) -> None:
        await self.ledger.insert([doc for doc, _ in announcements])

    async def claim(self, item_id: str, key: str) -> str | None:
        return await self.catalog.claim(item_id, key)

    async def record_outcomes(self, outcomes: Sequence[dict]) -> None:
        await self.outcomes.record(outcomes)

    async def publish_summaries(self, summaries: dict[str, dict[str, int]]) -> None:
        for advocate_id, summary in summaries.items():
            self.accounts.book.apply(advocate_id, summary)

    async def send(self, advocate_id: str, request: RedemptionRequest) -> None:
        self.offset += 1
        incoming = Incoming(
            event=None,
            kind=REDEMPTION_KIND,
            source="redemptions/0",
            offset=self.offset,
            partition=0,
            advocate_id=advocate_id,
            source_id=request.key,
            at=datetime.now(UTC),
            day=datetime.now(UTC).date().isoformat(),
            redemption=request,
        )
        task = asyncio.create_task(self._apply(incoming))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> list[BaseException | None]:
        """Waits for every request sent so far to be applied; their errors (injected crashes)."""
        return await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _apply(self, incoming: Incoming) -> None:
        async with self._lock:
            await self.processor.process([incoming])
            await self.keeper.materialise()

    async def award(
        self, event: str, rule: str, points: int, day: str, units: int = 1, leader: bool = False, who: str = "aino"
    ) -> dict:
        """Books an entry as the award agent would (state, summary, announced to the ledger)."""
        doc = ledger_document(
            source_event_id=event,
            rule=rule,
            advocate_id=who,
            points=points,
            rule_set_version=1,
            campaign_id="",
            content_id="c1",
            occurred_at=datetime.fromisoformat(day).replace(tzinfo=UTC),
            team="sales",
            leader=leader,
            local_day=day,
            units=units,
        )
        async with self._lock:
            state = AdvocateState.from_dict(self.states.get(who))
            account.book(state, doc)
            await self.announce([(doc, "")])
            await self.publish_summaries({who: account.summary(state)})
            self.states[who] = state.to_dict()
            if not self.keeper.missing([0]):
                self.keeper.apply(0, who, state, None)
            else:
                self.keeper.build(self.by_partition({0}))
            await self.keeper.materialise()
        return doc
