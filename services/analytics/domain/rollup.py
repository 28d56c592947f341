"""Rollups: facts summed per dimension key and hour, in records that one partition's worker owns.

A record is stored twice: in the worker's changelogged table (the truth it updates) and as a
document of the same `_id` (what the API reads, by `_id` only). Records of a partition are written
only by the worker that owns the partition (share-made and engagement-observed partition `p` are
consumed together), so every record has one writer.

- Day records, `D|<dimension>|<bucket>|<day>|<partition>`: per key and hour of the day, on-time and
  late slices (late: too late for hour/day windows, counted in all-time figures), each per leader
  flag: counters per network and the advocates who shared. Keys of high-cardinality dimensions
  are spread over buckets so a record stays small; a key is always in the same bucket.
- Fact chunks, `F|<day>|<n>|<partition>`: the facts of one day, for questions whose range starts
  or ends inside an hour (exact to the microsecond, as summing facts was). The PROGRAM day record
  says how many chunks its day has. By day, not by hour: a batch of events spread over many hours
  (a replay of a long history) touches one chunk per day, not one per hour.
- Spans, `S|<partition>`: the first and last day with facts, for questions without a bound, and
  every day with facts, so that a range over sparse days (years apart) reads only those days.

Exactly once: a day record keeps, per source topic, the last offset it applied, and skips events
at or below it (events come in offset order per partition); a chunk appends a fact only if no
chunk of its hour holds that (topic, offset) already. A redelivered event therefore changes
nothing, and a crash between two record writes leaves each record either with or without the
event, never twice.
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.analytics.domain.fact import COMPANY, OWN
from services.analytics.domain.metrics import COUNTER_FIELDS, Group, Totals
from services.analytics.domain.windows import Granularity, window_start

# Dimension -> (the fact field it groups by, None for PROGRAM: every fact; buckets of its keys).
DIMENSIONS: dict[str, tuple[str | None, int]] = {
    "PROGRAM": (None, 1),
    "TEAM": ("team", 1),
    "NETWORK": ("network", 1),
    "ORIGIN": ("post_origin", 1),
    "CAMPAIGN": ("campaign_id", 1),
    "CONTENT": ("content_id", 8),
    "ADVOCATE": ("advocate_id", 16),
}
FIELD_DIMENSION = {f: dim for dim, (f, _) in DIMENSIONS.items() if f}
# An own post is no content item: counted everywhere but in CONTENT (TopContent, GetContentStats).
NOT_FOR_OWN_POSTS = "CONTENT"
CHUNK_FACTS = 1000
HOUR = timedelta(hours=1)

# A fact in a chunk: [time µs, source, offset, content, advocate, team, campaign, network, leader,
# late, *counters in COUNTER_FIELDS order, post origin]. The origin came last, later: a fact
# stored before it has none and is a company item's.
_T, _SRC, _OFF, _CONTENT, _ADVOCATE, _TEAM, _CAMPAIGN, _NETWORK, _LEADER, _LATE = range(10)
_COUNTERS_END = _LATE + 1 + len(COUNTER_FIELDS)
_ORIGIN = _COUNTERS_END
_CHUNK_FIELDS = {
    "content_id": _CONTENT,
    "advocate_id": _ADVOCATE,
    "team": _TEAM,
    "campaign_id": _CAMPAIGN,
    "network": _NETWORK,
    "post_origin": _ORIGIN,
}

# (window start, `by` value) -> leader flag -> the group (as `ports.Grouped`).
Grouped = dict[tuple[datetime | None, str], dict[bool, Group]]


def _chunk_value(fact: list[Any], index: int) -> Any:
    return fact[index] if index < len(fact) else COMPANY


def bucket_of(key: str, buckets: int) -> int:
    return zlib.crc32(key.encode()) % buckets if buckets > 1 else 0


def day_id(dimension: str, bucket: int, day: date, partition: int) -> str:
    return f"D|{dimension}|{bucket}|{day.isoformat()}|{partition}"


def chunk_id(day: date, partition: int, index: int) -> str:
    return f"F|{day.isoformat()}|{index}|{partition}"


def span_id(partition: int) -> str:
    return f"S|{partition}"


def partition_of(record_id: str) -> int:
    """The partition whose worker owns a record (the last part of every record id)."""
    return int(record_id.rsplit("|", 1)[1])


def _micros(at: datetime) -> int:
    return int(at.timestamp()) * 1_000_000 + at.microsecond


def _from_micros(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


# ------------------------------------------------------------------------------------ writing


class RollupWriter:
    """Applies one batch of one partition's facts to its records.

    `load(id)` returns the stored record (a copy this writer may change) or None. After `apply`,
    `changed` holds every record the batch touched, to be stored (table, then documents), even
    when redelivered events changed nothing in it: its document may not have been written yet."""

    def __init__(self, partition: int, load: Callable[[str], dict[str, Any] | None]) -> None:
        self.partition = partition
        self._load = load
        self.changed: dict[str, dict[str, Any]] = {}
        self._chunked: dict[date, tuple[list[str], set[tuple[str, int]]]] = {}
        self._day_ids: dict[tuple[str, int, date], str] = {}

    def _day_record(self, dimension: str, bucket: int, day: date) -> dict[str, Any]:
        # Record ids formatted once per batch, not per fact and dimension (the agent is CPU-bound).
        record_id = self._day_ids.get((dimension, bucket, day))
        if record_id is None:
            record_id = self._day_ids[(dimension, bucket, day)] = day_id(dimension, bucket, day, self.partition)
        return self.record(record_id)

    def record(self, record_id: str) -> dict[str, Any]:
        if record_id not in self.changed:
            self.changed[record_id] = self._load(record_id) or {}
        return self.changed[record_id]

    def apply(self, source: str, offset: int, fact: Mapping[str, Any]) -> None:
        """One fact (a fact document of `fact.fact_document`) from `source` at `offset`."""
        at: datetime = fact["occurred_at"]
        hour = window_start(at, Granularity.HOUR)
        day = hour.date()
        counters = [int(fact[name] or 0) for name in COUNTER_FIELDS]
        own = fact.get("post_origin") == OWN
        for dimension, (field_name, buckets) in DIMENSIONS.items():
            if own and dimension == NOT_FOR_OWN_POSTS:
                continue
            key = str(fact.get(field_name, COMPANY)) if field_name else ""
            record = self._day_record(dimension, bucket_of(key, buckets), day)
            if _first_time(record, source, offset):
                _add(record, key, hour, fact, counters)
        self._append(day, source, offset, fact, counters)
        span = self.record(span_id(self.partition))
        iso = day.isoformat()
        span["first"] = min(span.get("first", iso), iso)
        span["last"] = max(span.get("last", iso), iso)
        days = span.setdefault("days", [])
        at_day = bisect.bisect_left(days, iso)  # ISO days (4-digit years) sort as strings
        if at_day == len(days) or days[at_day] != iso:
            days.insert(at_day, iso)

    def _append(self, day: date, source: str, offset: int, fact: Mapping[str, Any], counters: list[int]) -> None:
        ids, held = self._chunks(day)
        if (source, offset) not in held:
            if not ids or len(self.record(ids[-1]).get("facts", [])) >= CHUNK_FACTS:
                ids.append(chunk_id(day, self.partition, len(ids)))
            entry = [
                _micros(fact["occurred_at"]),
                source,
                offset,
                fact["content_id"],
                fact["advocate_id"],
                fact["team"],
                fact["campaign_id"],
                fact["network"],
                bool(fact["leader"]),
                bool(fact["too_late"]),
                *counters,
                fact.get("post_origin", COMPANY),
            ]
            self.record(ids[-1]).setdefault("facts", []).append(entry)
            held.add((source, offset))
        program = self.record(day_id("PROGRAM", 0, day, self.partition))
        program["chunks"] = len(ids)

    def _chunks(self, day: date) -> tuple[list[str], set[tuple[str, int]]]:
        """The day's existing chunks (found by id from 0: a count written with a lost chunk write
        would lie) and the (source, offset) of every fact they hold."""
        if day not in self._chunked:
            ids: list[str] = []
            held: set[tuple[str, int]] = set()
            while True:
                candidate = chunk_id(day, self.partition, len(ids))
                record = self.changed.get(candidate) or self._load(candidate)
                if record is None:
                    break
                self.changed[candidate] = record
                ids.append(candidate)
                held.update((f[_SRC], f[_OFF]) for f in record.get("facts", []))
            self._chunked[day] = (ids, held)
        return self._chunked[day]


def _first_time(record: dict[str, Any], source: str, offset: int) -> bool:
    applied = record.setdefault("applied", {})
    if applied.get(source, -1) >= offset:
        return False
    applied[source] = offset
    return True


def _add(record: dict[str, Any], key: str, hour: datetime, fact: Mapping[str, Any], counters: list[int]) -> None:
    part = "late" if fact["too_late"] else "on"
    leader = "1" if fact["leader"] else "0"
    hours = record.setdefault("keys", {}).setdefault(key, {})
    piece = hours.setdefault(f"{hour.hour:02d}", {}).setdefault(part, {}).setdefault(leader, {"n": {}, "s": []})
    sums = piece["n"].setdefault(fact["network"], [0] * len(COUNTER_FIELDS))
    for i, value in enumerate(counters):
        sums[i] += value
    if counters[0] > 0:  # shares: the advocate is a sharer of this slice
        sharers: list[str] = piece["s"]
        advocate = fact["advocate_id"]
        at = bisect.bisect_left(sharers, advocate)
        if at == len(sharers) or sharers[at] != advocate:
            sharers.insert(at, advocate)


# ------------------------------------------------------------------------------------ reading


@dataclass(frozen=True)
class Question:
    """What `grouped` is asked: one dimension key (or, with `by`, every key of the dimension),
    windows of `granularity`, facts with occurred_at in [start, end) (an open bound unset)."""

    dimension: str
    key: str | None  # None: every key (grouped by it)
    granularity: Granularity
    start: datetime | None
    end: datetime | None

    @property
    def windowed(self) -> bool:
        return self.granularity is not Granularity.ALL_TIME

    def buckets(self) -> list[int]:
        count = DIMENSIONS[self.dimension][1]
        return list(range(count)) if self.key is None else [bucket_of(self.key, count)]

    def cuts(self, hour: datetime) -> bool:
        """Whether the range starts or ends inside `hour` (its facts are then taken one by one)."""
        return (self.start is not None and hour < self.start < hour + HOUR) or (
            self.end is not None and hour < self.end < hour + HOUR
        )

    def covers(self, hour: datetime) -> bool:
        return (self.start is None or hour + HOUR > self.start) and (self.end is None or hour < self.end)

    def window(self, hour: datetime) -> datetime | None:
        return None if not self.windowed else window_start(hour, self.granularity)


def days_between(start: datetime | None, end: datetime | None, spans: Iterable[Mapping[str, Any]]) -> list[date]:
    """The days a question reads: the days in its range on which any partition has facts."""
    spans = [s for s in spans if s.get("first") and s.get("last")]
    low = date.min if start is None else start.astimezone(UTC).date()
    high = date.max
    if end is not None:
        if end.astimezone(UTC) <= datetime.min.replace(tzinfo=UTC) + timedelta(microseconds=1):
            return []  # nothing happens before the first representable instant
        high = (end.astimezone(UTC) - timedelta(microseconds=1)).date()
    days: set[str] = set()
    for span in spans:
        if "days" in span:
            listed = span["days"]
            days.update(
                listed[bisect.bisect_left(listed, low.isoformat()) : bisect.bisect_right(listed, high.isoformat())]
            )
        else:  # a span written before it listed its days: every day between its first and last
            first, last = max(low, date.fromisoformat(span["first"])), min(high, date.fromisoformat(span["last"]))
            days.update((first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1))
    return [date.fromisoformat(day) for day in sorted(days)]


@dataclass
class Assembly:
    """Day documents and cut hours' facts summed into `Grouped` for one question."""

    question: Question
    out: Grouped = field(default_factory=dict)
    first: datetime | None = None
    last: datetime | None = None

    def add_day(self, doc: Mapping[str, Any], day: date) -> list[datetime]:
        """Adds a day document's whole hours; returns the cut hours it has facts in (to be read
        from their chunks)."""
        cut: list[datetime] = []
        q = self.question
        keys = doc.get("keys", {})
        selected = keys.items() if q.key is None else [(q.key, keys[q.key])] if q.key in keys else []
        for key, hours in selected:
            for hh, parts in hours.items():
                hour = datetime(day.year, day.month, day.day, int(hh), tzinfo=UTC)
                if not q.covers(hour):
                    continue
                if q.cuts(hour):
                    cut.append(hour)
                    continue
                for part, by_leader in parts.items():
                    if part == "late" and q.windowed:
                        continue
                    self._seen(hour, hour)
                    for flag, piece in by_leader.items():
                        group = self._group(q.window(hour), key if q.key is None else "", flag == "1")
                        for network, sums in piece["n"].items():
                            _add_totals(group, network, sums)
                        group.sharers.update(piece["s"])
        return cut

    def add_facts(self, facts: Iterable[list[Any]], cut: set[datetime]) -> None:
        """Adds the facts of the `cut` hours (a day's chunks hold each fact once) within the range."""
        q = self.question
        field_name = DIMENSIONS[q.dimension][0]
        index = _CHUNK_FIELDS[field_name] if field_name else None
        skip_own = q.dimension == NOT_FOR_OWN_POSTS
        lo = _micros(q.start) if q.start is not None else None
        hi = _micros(q.end) if q.end is not None else None
        for f in facts:
            if (lo is not None and f[_T] < lo) or (hi is not None and f[_T] >= hi):
                continue
            if f[_LATE] and q.windowed:
                continue
            if skip_own and _chunk_value(f, _ORIGIN) == OWN:
                continue
            if index is not None and q.key is not None and _chunk_value(f, index) != q.key:
                continue
            at = _from_micros(f[_T])
            hour = window_start(at, Granularity.HOUR)
            if hour not in cut:
                continue
            self._seen(at, at)
            key = _chunk_value(f, index) if index is not None and q.key is None else ""
            group = self._group(q.window(hour), key, bool(f[_LEADER]))
            counters = f[_LATE + 1 : _COUNTERS_END]
            _add_totals(group, f[_NETWORK], counters)
            if counters[0] > 0:
                group.sharers.add(f[_ADVOCATE])

    def _group(self, window: datetime | None, key: str, leader: bool) -> Group:
        return self.out.setdefault((window, key), {}).setdefault(leader, Group())

    def _seen(self, first: datetime, last: datetime) -> None:
        self.first = first if self.first is None else min(self.first, first)
        self.last = last if self.last is None else max(self.last, last)


def _add_totals(group: Group, network: str, sums: list[int]) -> None:
    totals = Totals(**dict(zip(COUNTER_FIELDS, sums, strict=True)))
    group.totals.add(totals)
    group.by_network.setdefault(network, Totals()).add(totals)
