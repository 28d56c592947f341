"""The award agent's batch, over ports: evaluate in memory against the advocates' states, then
the effects, then the states.

Exactly-once in effect, without Kafka transactions:
- the state records the last source offset applied per input partition, and is written only
  after every effect of the batch is done (every `points-awarded` and account summary
  acknowledged by Kafka, the redemption outcomes stored); the changelog is flushed before the
  offsets are committed, so after a crash the recovered state is a prefix of what was processed;
- an event the state already covers is skipped: its effects were complete before the state said so;
- an event it does not cover is evaluated again against that prefix: first share, duplicates,
  streaks, click de-duplication, the daily cap and a redemption's balance check depend only on the
  order within the advocate's partition, so the outcome is the same, with the same entry ids
  ("<source event id>:<rule>"), which the ledger sink stores once;
- the state is the account: every entry the agent announces is booked into it (balance, day
  totals, period totals, badge counters), so no read of the ledger is ever needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.rewards.app.boards import BoardKeeper
from services.rewards.app.incoming import EARLY_KIND, Incoming, RedemptionRequest
from services.rewards.domain import account
from services.rewards.domain.rules import AdvocateState, Award, Campaign, RuleSet, thank_you


class RulesSource(Protocol):
    async def rules(self) -> RuleSet: ...

    async def campaign(self, campaign_id: str) -> Campaign | None: ...


class StateStore(Protocol):
    def get(self, advocate_id: str) -> dict | None: ...

    def by_partition(self, partitions: set[int]) -> dict[int, list[tuple[str, dict]]]:
        """Every advocate's state in these partitions (to rebuild their leaderboards)."""

    def put(self, advocate_id: str, state: dict, event: Any) -> None:
        """Writes the state to the partition `event` came from (its changelog)."""


class Announcer(Protocol):
    async def announce(self, announcements: Sequence[tuple[dict, str]]) -> None:
        """Sends every (ledger entry, thank-you line) as `points-awarded`; returns once all are acked."""


class Stock(Protocol):
    async def claim(self, item_id: str, key: str) -> str | None:
        """The unit claimed for redemption `key` (the same one on a retry), or None when none is left."""


class Sinks(Protocol):
    async def record_outcomes(self, outcomes: Sequence[dict]) -> None: ...

    async def publish_summaries(self, summaries: dict[str, dict[str, int]]) -> None: ...


@dataclass
class BatchEffects:
    announcements: list[tuple[dict, str]] = field(default_factory=list)
    outcomes: list[dict] = field(default_factory=list)
    replayed: int = 0
    # Per advocate, the period keys its awards changed (None: all of them).
    periods: dict[str, set[str] | None] = field(default_factory=dict)


@dataclass
class AwardProcessor:
    rules: RulesSource
    states: StateStore
    announcer: Announcer
    stock: Stock
    sinks: Sinks
    boards: BoardKeeper

    async def process(self, events: Sequence[Incoming]) -> BatchEffects:
        rules = await self.rules.rules()
        missing = self.boards.missing(e.partition for e in events)
        if missing:
            self.boards.build(self.states.by_partition(missing))
        states: dict[str, AdvocateState] = {}
        last_event: dict[str, Incoming] = {}
        for e in events:
            if e.advocate_id not in states:
                states[e.advocate_id] = AdvocateState.from_dict(self.states.get(e.advocate_id))
            last_event[e.advocate_id] = e
        effects = BatchEffects()
        for e in events:  # in arrival order: per partition, the advocate's offset order
            state = states[e.advocate_id]
            if state.already_applied(e.source, e.offset):
                effects.replayed += 1  # redelivered: its effects were all done before the state said so
                # Its boards too (they are rebuilt from the states, but may lag a crashed batch).
                effects.periods[e.advocate_id] = None
                continue
            if e.redemption is not None:  # (a redemption key is remembered for good: state.redemptions)
                await self._redeem(state, e, e.redemption, effects)
            elif not self._first_time(state, e):
                effects.replayed += 1  # the same event sent again (another offset): counted once
            else:
                self._award(state, e, rules, await self.rules.campaign(e.campaign_id), effects)
            state.mark_applied(e.source, e.offset)
        summaries = {a: account.summary(s) for a, s in states.items()}
        await asyncio.gather(
            self.announcer.announce(effects.announcements),
            self.sinks.publish_summaries(summaries),
            self.sinks.record_outcomes(effects.outcomes),
        )
        # Written last: the state never claims an event whose effects were not all done.
        for advocate_id, e in last_event.items():
            self.states.put(advocate_id, states[advocate_id].to_dict(), e.event)
            periods = effects.periods.get(advocate_id, set())
            self.boards.apply(e.partition, advocate_id, states[advocate_id], periods)
        return effects

    @staticmethod
    def _first_time(state: AdvocateState, e: Incoming) -> bool:
        if e.kind == EARLY_KIND:
            return account.first_early_bonus(state, e.content_id)
        return account.first_time(state, f"{e.kind}:{e.source_id}", e.at)

    @staticmethod
    def _award(
        state: AdvocateState, e: Incoming, rules: RuleSet, campaign: Campaign | None, effects: BatchEffects
    ) -> None:
        awards = account.cap(state, e.day, e.evaluate(state, rules, campaign), rules)
        periods = effects.periods.setdefault(e.advocate_id, set())
        if periods is not None and any(a.points for a in awards):
            periods.update(account.period_keys(e.day))
        for award in awards:
            doc = e.ledger_document(award, rules.version)
            account.book(state, doc)
            line = thank_you(e.first_name, Award(award.rule, award.points, award.capped), e.network, e.audience)
            effects.announcements.append((doc, line))

    async def _redeem(self, state: AdvocateState, e: Incoming, r: RedemptionRequest, effects: BatchEffects) -> None:
        decision = account.redemption_decision(state, r.key, r.cost)
        if decision is None:
            return  # decided before: its outcome document stands
        claim = None
        if decision == account.REDEEMED:
            claim = await self.stock.claim(r.item_id, r.key)
            if claim is None:
                decision = account.OUT_OF_STOCK
        state.redemptions[r.key] = decision
        entry = None
        if decision == account.REDEEMED:
            entry = r.entry(e.advocate_id, e.at)
            account.book(state, entry)
            effects.announcements.append((entry, ""))
        effects.outcomes.append(
            {
                "_id": r.key,
                "request_id": r.request_id,
                "advocate_id": e.advocate_id,
                "item_id": r.item_id,
                "status": decision,
                "claim": claim,
                "entry": entry,
                "balance": state.balance,
            }
        )
