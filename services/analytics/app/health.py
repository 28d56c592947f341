"""The health worker's use case (a batch of share, completion and advocate events into the
per-advocate states and per-partition aggregates) and the health questions.

Per batch and partition: the advocates' states (`adv|<id>`) take their events, each advocate's old
contribution is taken out of the partition's aggregate records and the new one put in
(`domain/health.py`). The states and aggregates are separate table keys, and a SIGKILL may leave
only some of a batch's changelog records written, so every changed value is first written whole in
one intent record (`intent|<p>`), then each key; all go to the same changelog partition, whose
records Kafka keeps in order, so a written key implies its intent. A batch starts by putting the
values of an intent left behind (idempotent: whole values, never increments). After the changelog
acknowledged them, the intent's aggregate documents are replaced and the intent cleared; only then
are the batch's offsets acknowledged. A crash anywhere redelivers the batch: the states skip its
events by offset, and the intent says which documents to write again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from services.analytics.domain import health as h
from services.analytics.domain.health_figures import LessonRow, ProgramHealth, months_between, program_health, training


class HealthRecords(Protocol):
    """The worker's changelogged table: states, aggregate records and pending lists by key, each
    in the store partition of `anchor` (an event of that partition)."""

    def load(self, record_id: str, anchor: Any) -> dict[str, Any] | None: ...

    def put(self, records: Mapping[str, Any], anchor: Any) -> None:
        """Stores each value; None removes the key."""

    async def durable(self) -> None: ...


class HealthSink(Protocol):
    async def write(self, records: Mapping[str, Mapping[str, Any]]) -> None: ...

    async def read(self, ids: list[str]) -> dict[str, dict[str, Any]]: ...


@dataclass(frozen=True)
class HealthEvent:
    """A decoded event and where it came from (`anchor`: its Kafka event, for the table writes)."""

    source: str  # topic label
    partition: int
    offset: int
    advocate_id: str
    event: h.Share | h.Completion | h.Enrolment
    anchor: Any = None


def record_id(suffix: str, partition: int) -> str:
    return f"{suffix}|{partition}"


def intent_id(partition: int) -> str:
    return f"intent|{partition}"


def is_aggregate(rid: str) -> bool:
    return not rid.startswith("adv|")


class HealthProcessor:
    def __init__(self, records: Callable[[], HealthRecords], documents: Callable[[], HealthSink]) -> None:
        self._records = records
        self._documents = documents

    async def process(self, batch: list[HealthEvent]) -> None:
        records = self._records()
        by_partition: dict[int, list[HealthEvent]] = {}
        for item in batch:
            by_partition.setdefault(item.partition, []).append(item)
        intents = {p: self._apply(records, items) for p, items in by_partition.items()}
        await records.durable()
        for partition, intent in intents.items():
            docs = {rid: value for rid, value in intent.items() if is_aggregate(rid)}
            await self._documents().write(docs)
            records.put({intent_id(partition): None}, by_partition[partition][-1].anchor)

    def _apply(self, records: HealthRecords, items: list[HealthEvent]) -> dict[str, Any]:
        """Applies one partition's events; returns its intent (key -> whole value)."""
        partition, anchor = items[0].partition, items[-1].anchor
        left = records.load(intent_id(partition), anchor) or {}
        if left:  # a batch cut short: its values again, before anything reads them
            records.put(left, anchor)
        states: dict[str, dict[str, Any]] = {}
        before: dict[str, dict[str, h.Counters]] = {}
        titles: dict[str, str] = {}
        for item in items:
            state = states.get(item.advocate_id)
            if state is None:
                state = records.load(f"adv|{item.advocate_id}", anchor) or h.new_state()
                states[item.advocate_id] = state
                before[item.advocate_id] = h.contribution(state)
            applied = h.apply(state, f"{item.source}:{item.partition}", item.offset, item.event)
            if applied and isinstance(item.event, h.Completion) and item.event.title:
                titles[item.event.lesson_id] = item.event.title
        changed: dict[str, dict[str, Any]] = {
            rid: value for rid, value in left.items() if is_aggregate(rid)
        }  # their documents are still to write
        for advocate_id, state in states.items():
            for suffix, changes in h.delta(before[advocate_id], h.contribution(state)).items():
                rid = record_id(suffix, partition)
                if rid not in changed:
                    changed[rid] = records.load(rid, anchor) or {"e": {}}
                h.add_counters(changed[rid]["e"], changes)
        self._index_months(records, changed, partition, anchor)
        if titles:
            rid = record_id("training", partition)
            changed.setdefault(rid, records.load(rid, anchor) or {"e": {}}).setdefault("titles", {}).update(titles)
        intent: dict[str, Any] = {**{f"adv|{a}": s for a, s in states.items()}, **changed}
        records.put({intent_id(partition): intent}, anchor)  # first: the changelog keeps the order
        records.put(intent, anchor)
        return intent

    @staticmethod
    def _index_months(records: HealthRecords, changed: dict[str, dict[str, Any]], partition: int, anchor: Any) -> None:
        """Adds the months of the changed cohort and activity records to the partition's index."""
        months = {rid.split("|")[1] for rid in changed if rid.startswith(("cohort|", "activity|"))}
        rid = record_id("months", partition)
        index = changed.get(rid) or records.load(rid, anchor) or {"e": {}, "months": []}
        if not months <= set(index.get("months", [])):
            changed[rid] = {**index, "months": sorted(months | set(index.get("months", [])))}


class HealthQueries:
    """Figures merged from at most one document per partition and month asked for (`partitions`)."""

    def __init__(self, documents: Callable[[], HealthSink], partitions: int) -> None:
        self._documents = documents
        self._partitions = partitions

    async def _merged(
        self, suffixes: list[str], partitions_of: Callable[[str], Iterable[int]] | None = None
    ) -> tuple[dict[str, h.Counters], dict[str, str]]:
        """`partitions_of(suffix)`: the partitions that may hold it (default: every one)."""
        every = range(self._partitions)
        ids = [record_id(s, p) for s in suffixes for p in (partitions_of(s) if partitions_of else every)]
        docs = await self._documents().read(ids)
        merged: dict[str, h.Counters] = {}
        titles: dict[str, str] = {}
        for suffix in suffixes:
            parts = [docs[record_id(suffix, p)] for p in range(self._partitions) if record_id(suffix, p) in docs]
            merged[suffix] = h.merge(d.get("e", {}) for d in parts)
            for d in parts:
                titles.update(d.get("titles", {}))
        return merged, titles

    async def program_health(self, team: str, first: str, last: str) -> ProgramHealth:
        months = months_between(first, last)
        # Each partition's index lists the months it has records of: a range over empty months
        # (years back, say) reads nothing for them.
        indexes = await self._documents().read([record_id("months", p) for p in range(self._partitions)])
        holding: dict[str, list[int]] = {}
        for p in range(self._partitions):
            for month in indexes.get(record_id("months", p), {}).get("months", []):
                holding.setdefault(month, []).append(p)
        suffixes = [f"cohort|{m}" for m in months] + [f"activity|{m}" for m in months]
        merged, _ = await self._merged(suffixes, lambda suffix: holding.get(suffix.split("|")[1], []))
        cohorts = {m: merged[f"cohort|{m}"] for m in months}
        activity = {m: merged[f"activity|{m}"] for m in months}
        return program_health(team, first, last, cohorts, activity)

    async def training(self, team: str) -> list[LessonRow]:
        merged, titles = await self._merged(["training"])
        return training(merged["training"], titles, team or None)
