"""The award agent's batch, over ports: evaluate in memory against the advocates' states, then
write the states with the batch's effects as their outbox, then the effects.

Exactly-once in effect, without Kafka transactions:
- the state records the last source offset applied per input partition, and is written (and its
  changelog acknowledged) *before* any effect: with it, as its outbox, go the ledger entries the
  batch announces and the redemption outcomes it records. After a crash the recovered state either
  predates the batch (nothing of it was announced: its events are evaluated again) or holds it
  with its outbox, which is announced again, with the same ids, never evaluated again;
- that matters because the agent reads five topics: a replay interleaves them differently from the
  first run, and order-dependent rules (the daily cap) would give some entries other points than
  those the ledger already holds;
- per partition, the offsets through which every batch's effects are done are recorded after them;
  a state beyond them has an outbox that may not have gone out. Such states are found by a sweep of
  the partition's states when this worker first processes it, and by the check of every state a
  batch loads;
- the state is the account: every entry the agent announces is booked into it (balance, day
  totals, period totals, badge counters), so no read of the ledger is ever needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.rewards.app.boards import BoardKeeper
from services.rewards.app.incoming import EARLY_KIND, LESSON_KIND, SWEEP_KIND, Incoming, RedemptionRequest
from services.rewards.domain import account
from services.rewards.domain.rules import AdvocateState, Award, Campaign, RuleSet
from services.rewards.domain.thanks import thank_you


class RulesSource(Protocol):
    async def rules(self) -> RuleSet: ...

    async def campaign(self, campaign_id: str) -> Campaign | None: ...


class StateStore(Protocol):
    def get(self, advocate_id: str) -> dict | None: ...

    def by_partition(self, partitions: set[int]) -> dict[int, list[tuple[str, dict]]]:
        """Every advocate's state in these partitions (to rebuild their leaderboards)."""

    def put(self, advocate_id: str, state: dict, event: Any) -> None:
        """Writes the state to the partition `event` came from (its changelog)."""

    async def changelog_acknowledged(self) -> None:
        """Returns once every state put so far is durable in its changelog."""

    def announced_through(self, partition: int) -> dict[str, int]:
        """Per source, the offset through which the partition's effects are all done."""

    def record_announced(self, partition: int, through: dict[str, int], event: Any) -> None: ...


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
    # Entries of outboxes found not announced (a crash after the state write), announced again.
    carried: int = 0
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
    # Partitions whose states were searched for outboxes not announced since this worker got them.
    swept: set[int] = field(default_factory=set)

    async def process(self, events: Sequence[Incoming]) -> BatchEffects:
        rules = await self.rules.rules()
        partition_events = {e.partition: e for e in events}  # (any event of a partition acts for it)
        events = [e for e in events if e.kind != SWEEP_KIND]
        effects = BatchEffects()
        states, acting = self._load(events, partition_events, effects)
        for e in events:  # in arrival order: per partition, the advocate's offset order
            state = states[e.advocate_id]
            if state.already_applied(e.source, e.offset):
                effects.replayed += 1  # redelivered: its effects were all done or are in the outbox
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
        await self._write_states(states, acting, effects)
        await asyncio.gather(
            self.announcer.announce(effects.announcements),
            self.sinks.publish_summaries({a: account.summary(s) for a, s in states.items()}),
            self.sinks.record_outcomes(effects.outcomes),
        )
        self._record_announced(states, acting, partition_events)
        for advocate_id, e in acting.items():
            periods = effects.periods.get(advocate_id, set())
            self.boards.apply(e.partition, advocate_id, states[advocate_id], periods)
        self.swept.update(partition_events)
        return effects

    def _load(
        self, events: Sequence[Incoming], partition_events: dict[int, Incoming], effects: BatchEffects
    ) -> tuple[dict[str, AdvocateState], dict[str, Incoming]]:
        """The states the batch writes (its advocates', and those a sweep finds with an outbox not
        announced), each with the event whose partition it is written to; an outbox not announced
        goes into the batch's effects first."""
        through = {p: self.states.announced_through(p) for p in partition_events}
        states: dict[str, AdvocateState] = {}
        acting: dict[str, Incoming] = {}

        def take(advocate_id: str, doc: dict | None, e: Incoming) -> bool:
            state = states[advocate_id] = AdvocateState.from_dict(doc)
            acting[advocate_id] = e
            if (state.outbox or state.outbox_outcomes) and not account.announced(state, through[e.partition]):
                announcements, outcomes = account.outbox_effects(state)
                effects.announcements += announcements
                effects.outcomes += outcomes
                effects.carried += len(announcements)
                return True
            return False

        unswept = set(partition_events) - self.swept
        missing = self.boards.missing(partition_events)
        found = self.states.by_partition(unswept | missing) if unswept | missing else {}
        self.boards.build({p: found[p] for p in missing})
        for partition in unswept:
            for advocate_id, doc in found[partition]:
                if doc.get("outbox") or doc.get("outbox_outcomes"):
                    if not take(advocate_id, doc, partition_events[partition]):
                        del states[advocate_id], acting[advocate_id]  # announced: nothing to write
        for e in events:
            if e.advocate_id not in states:
                take(e.advocate_id, self.states.get(e.advocate_id), e)
            acting[e.advocate_id] = e
        return states, acting

    async def _write_states(
        self, states: dict[str, AdvocateState], acting: dict[str, Incoming], effects: BatchEffects
    ) -> None:
        """Each state with its outbox (this batch's effects and any it carried), made durable."""
        announcements: dict[str, list[tuple[dict, str]]] = {}
        for pair in effects.announcements:
            announcements.setdefault(pair[0]["advocate_id"], []).append(pair)
        outcomes: dict[str, list[dict]] = {}
        for outcome in effects.outcomes:
            outcomes.setdefault(outcome["advocate_id"], []).append(outcome)
        for advocate_id, e in acting.items():
            state = states[advocate_id]
            state.outbox, state.outbox_outcomes = account.stored_outbox(
                announcements.get(advocate_id, []), outcomes.get(advocate_id, [])
            )
            self.states.put(advocate_id, state.to_dict(), e.event)
        await self.states.changelog_acknowledged()

    def _record_announced(
        self, states: dict[str, AdvocateState], acting: dict[str, Incoming], partition_events: dict[int, Incoming]
    ) -> None:
        """Every state written is announced now, and (swept) every other state of its partition."""
        through = {p: dict(self.states.announced_through(p)) for p in partition_events}
        for advocate_id, e in acting.items():
            offsets = through[e.partition]
            for source, offset in states[advocate_id].offsets.items():
                offsets[source] = max(offset, offsets.get(source, -1))
        for partition, offsets in through.items():
            self.states.record_announced(partition, offsets, partition_events[partition].event)

    @staticmethod
    def _first_time(state: AdvocateState, e: Incoming) -> bool:
        if e.kind == EARLY_KIND:
            return account.first_early_bonus(state, e.content_id)
        first = account.first_time(state, f"{e.kind}:{e.source_id}", e.at)
        if e.kind == LESSON_KIND:
            # Also once per lesson: a second completion event (another id) of it awards nothing.
            return first and account.first_lesson(state, e.content_id)
        return first

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
