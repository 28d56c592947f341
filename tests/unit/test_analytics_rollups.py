"""The rollups answer every question exactly as summing the facts one by one does, also after
redeliveries and crashes that keep only some of a batch's record writes.

The reference here groups the facts directly (what the facts collection was summed with before
the rollups): per window and key, per leader flag, counters per network and the advocates with a
share. The rollups go through their real writer, the document form and the reader's assembly."""

from __future__ import annotations

import asyncio
import copy
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.analytics.adapters.rollups import RollupDocuments, _document, question
from services.analytics.app.rollups import DocumentWriter
from services.analytics.domain.metrics import COUNTER_FIELDS, Group, Totals
from services.analytics.domain.rollup import CHUNK_FACTS, RollupWriter, days_between
from services.analytics.domain.windows import Granularity, window_start

PARTITIONS = 3
NOW = datetime(2026, 3, 10, 12, 34, 56, 789000, tzinfo=UTC)
TEAMS = ["red", "blue", "a.b", "$x"]
NETWORKS = ["LINKEDIN", "X", "FACEBOOK"]


def random_fact(rnd: random.Random, n: int) -> dict[str, Any]:
    at = NOW - timedelta(seconds=rnd.uniform(0, 4 * 86400))
    share = rnd.random() < 0.3
    counters = {name: 0 for name in COUNTER_FIELDS}
    if share:
        counters["shares"] = 1
        counters["potential_reach"] = rnd.choice([0, 100, 250])
    else:
        counters[rnd.choice(COUNTER_FIELDS[2:])] = rnd.choice([0, 1, 3])
    # An advocate's own post (synthetic content id): in every figure but the CONTENT dimension's.
    own = rnd.random() < 0.25
    return {
        "_id": f"e{n}",
        "content_id": rnd.choice(["own:a1", "own:b2"] if own else ["c1", "c2", "c3", "c.4"]),
        "post_origin": "own" if own else "company",
        "advocate_id": f"a{rnd.randrange(12)}",
        "team": rnd.choice(TEAMS),
        "leader": rnd.random() < 0.2,
        "campaign_id": rnd.choice(["", "camp"]),
        "network": rnd.choice(NETWORKS),
        "occurred_at": at,
        "too_late": rnd.random() < 0.1,
        **counters,
    }


def reference(facts: list[dict[str, Any]], match: dict[str, str], gran: Granularity, start, end, by=None):
    out: dict = {}
    for f in facts:
        if any(f[k] != v for k, v in match.items()):
            continue
        if f["post_origin"] == "own" and "content_id" in (*match, by):
            continue  # an own post is no content item
        if (start is not None and f["occurred_at"] < start) or (end is not None and f["occurred_at"] >= end):
            continue
        if gran is not Granularity.ALL_TIME and f["too_late"]:
            continue
        window = None if gran is Granularity.ALL_TIME else window_start(f["occurred_at"], gran)
        key = f[by] if by else ""
        group = out.setdefault((window, key), {}).setdefault(bool(f["leader"]), Group())
        group.add(f["advocate_id"], f["network"], Totals(**{n: f[n] for n in COUNTER_FIELDS}))
    return out


class Stored:
    """A record table (copies in and out, as RocksDB) and a document collection."""

    def __init__(self) -> None:
        self.table: dict[str, dict] = {}
        self.docs: dict[str, dict] = {}

    def load(self, rid: str) -> dict | None:
        record = self.table.get(rid)
        return copy.deepcopy(record) if record is not None else None

    async def find_one(self, query: dict) -> dict | None:
        doc = self.docs.get(query["_id"])
        return dict(doc) if doc is not None else None  # the reader replaces only top-level fields


def run(stored: Stored, batches: list[list[tuple[int, str, int, dict]]], rnd: random.Random) -> None:
    """Each batch per partition through a writer; some batches crash after a part of their record
    writes (a random subset) and are delivered again."""
    for batch in batches:
        while True:
            crash = rnd.random() < 0.3
            for partition in sorted({p for p, _, _, _ in batch}):
                writer = RollupWriter(partition, stored.load)
                for p, source, offset, fact in batch:
                    if p == partition:
                        writer.apply(source, offset, fact)
                kept = [rid for rid in writer.changed if not crash or rnd.random() < 0.5]
                for rid in kept:
                    stored.table[rid] = copy.deepcopy(writer.changed[rid])
                    stored.docs[rid] = copy.deepcopy(_document(writer.changed[rid]))
            if not crash:
                break


def history(seed: int, events: int = 600) -> tuple[list[dict], list[list[tuple[int, str, int, dict]]]]:
    rnd = random.Random(seed)
    facts = [random_fact(rnd, n) for n in range(events)]
    offsets = {(p, s): 0 for p in range(PARTITIONS) for s in ("share-made", "engagement-observed")}
    positioned = []
    for f in facts:
        p = rnd.randrange(PARTITIONS)
        source = "share-made" if f["shares"] else "engagement-observed"
        positioned.append((p, source, offsets[(p, source)], f))
        offsets[(p, source)] += 1
    batches = []
    at = 0
    while at < len(positioned):
        size = rnd.choice([1, 7, 40, 120])
        batches.append(positioned[at : at + size])
        at += size
    return facts, batches


def questions(facts: list[dict]) -> list[tuple[dict, Granularity, datetime | None, datetime | None, str | None]]:
    ranges = [
        (None, None),
        (NOW - timedelta(hours=30, minutes=17, seconds=3), NOW - timedelta(hours=2, minutes=5)),
        (NOW - timedelta(days=2), None),
        (None, NOW - timedelta(days=1, microseconds=1)),
        (window_start(NOW - timedelta(days=3), Granularity.DAY), window_start(NOW, Granularity.DAY)),
    ]
    matches = [{}, {"team": "a.b"}, {"team": "$x"}, {"content_id": "c.4"}, {"advocate_id": "a3"}]
    matches += [{"network": "X"}, {"campaign_id": ""}, {"campaign_id": "camp"}]
    matches += [{"post_origin": "own"}, {"post_origin": "company"}, {"content_id": "own:a1"}]
    out = []
    for match in matches:
        for gran in Granularity:
            for start, end in ranges:
                out.append((match, gran, start, end, None))
    for start, end in ranges:
        out.append(({}, Granularity.ALL_TIME, start, end, "content_id"))
        out.append(({}, Granularity.ALL_TIME, start, end, "post_origin"))
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_every_question_equals_the_facts_summed_after_redeliveries_and_crashes(seed):
    facts, batches = history(seed)
    stored = Stored()
    run(stored, batches, random.Random(seed))
    run(stored, batches[: len(batches) // 2], random.Random(seed + 100))  # a replay of the first half
    docs = RollupDocuments.__new__(RollupDocuments)
    docs.collection = stored
    docs.partitions = PARTITIONS

    async def check() -> None:
        for match, gran, start, end, by in questions(facts):
            expected = reference(facts, match, gran, start, end, by)
            got = await docs.grouped(match, gran, start, end, by)
            assert got == expected, (match, gran, start, end, by)
            bounds = await docs.time_bounds(match, start, end) if not by else None
            if not by:
                inside = [
                    f["occurred_at"]
                    for f in facts
                    if all(f[k] == v for k, v in match.items())
                    and not ("content_id" in match and f["post_origin"] == "own")
                    and (start is None or f["occurred_at"] >= start)
                    and (end is None or f["occurred_at"] < end)
                ]
                if not inside:
                    assert bounds is None
                else:
                    assert bounds is not None
                    for got_at, want in zip(bounds, (min(inside), max(inside)), strict=True):
                        assert window_start(got_at, Granularity.HOUR) == window_start(want, Granularity.HOUR)

    asyncio.run(check())


def test_a_busy_hour_spills_into_more_chunks_and_still_counts_each_fact_once():
    rnd = random.Random(7)
    hour = window_start(NOW, Granularity.HOUR)
    facts = []
    for n in range(CHUNK_FACTS * 2 + 10):
        f = random_fact(rnd, n)
        f["occurred_at"] = hour + timedelta(seconds=rnd.uniform(0, 3599))
        facts.append(f)
    stored = Stored()
    batches = [
        [(0, "share-made", n + i, f) for i, f in enumerate(facts[n : n + 100])] for n in range(0, len(facts), 100)
    ]
    run(stored, batches, rnd)
    run(stored, batches, rnd)  # all delivered twice
    assert sum(len(r.get("facts", [])) for rid, r in stored.table.items() if rid.startswith("F|")) == len(facts)
    docs = RollupDocuments.__new__(RollupDocuments)
    docs.collection = stored
    docs.partitions = 1
    start, end = hour + timedelta(minutes=13, seconds=1), hour + timedelta(minutes=47)
    got = asyncio.run(docs.grouped({}, Granularity.ALL_TIME, start, end))
    assert got == reference(facts, {}, Granularity.ALL_TIME, start, end)


def test_questions_the_rollups_cannot_answer_are_refused():
    with pytest.raises(ValueError):
        question({"team": "red", "network": "X"}, Granularity.DAY, None, None, None)
    with pytest.raises(ValueError):
        question({"team": "red"}, Granularity.DAY, None, None, "content_id")


class Marks:
    """Records with revisions and unwritten marks, as the worker's tables keep them."""

    def __init__(self) -> None:
        self.records: dict[str, dict] = {}
        self.marks: dict[str, int] = {}

    def change(self, record_id: str, value: int) -> None:
        record = self.records.setdefault(record_id, {"rev": 0})
        record["rev"] += 1
        record["value"] = value
        self.marks[record_id] = record["rev"]

    def unwritten(self, limit: int) -> list[tuple[str, dict]]:
        return [(rid, self.records[rid]) for rid in list(self.marks)[:limit]]

    def written(self, record_id: str, rev: int) -> None:
        if self.marks.get(record_id) == rev:
            del self.marks[record_id]


def test_a_record_changed_while_its_document_is_written_stays_marked_until_written_again():
    marks = Marks()
    docs: dict[str, int] = {}

    class Sink:
        async def write(self, records: dict) -> None:
            snapshot = {rid: r["value"] for rid, r in records.items()}
            marks.change("D|a", 2)  # a batch lands while the round is in flight
            docs.update(snapshot)

    writer = DocumentWriter(lambda: marks, lambda: Sink())
    marks.change("D|a", 1)
    marks.change("D|b", 1)
    assert asyncio.run(writer.write(10)) == 2
    assert docs == {"D|a": 1, "D|b": 1} and marks.marks == {"D|a": 2}  # b done, a still behind

    class Plain:
        async def write(self, records: dict) -> None:
            docs.update({rid: r["value"] for rid, r in records.items()})

    writer = DocumentWriter(lambda: marks, lambda: Plain())
    assert asyncio.run(writer.write(10)) == 1
    assert docs == {"D|a": 2, "D|b": 1} and not marks.marks
    assert asyncio.run(writer.write(10)) == 0


def test_ranges_at_the_ends_of_time_read_nothing_or_everything():
    spans = [{"first": "2026-03-01", "last": "2026-03-03"}]
    earliest = datetime.min.replace(tzinfo=UTC)
    assert days_between(None, earliest + timedelta(microseconds=1), spans) == []
    assert days_between(None, earliest, spans) == []
    everything = days_between(earliest, datetime.max.replace(tzinfo=UTC), spans)
    assert [d.isoformat() for d in everything] == ["2026-03-01", "2026-03-02", "2026-03-03"]


def test_a_range_over_sparse_days_reads_only_the_days_with_facts():
    """Facts years apart (an event dated 1970 beside this year's) must not make a question read
    every day between them: the spans list their days."""
    writers = [RollupWriter(p, lambda _id: None) for p in (0, 1)]
    for n, (p, at) in enumerate(
        [
            (0, datetime(1970, 1, 1, 5, tzinfo=UTC)),
            (1, datetime(2026, 3, 2, 9, tzinfo=UTC)),
            (0, datetime(2026, 3, 2, 23, tzinfo=UTC)),
        ]
    ):
        writers[p].apply("share-made", n, {**random_fact(random.Random(n), n), "occurred_at": at})
    spans = [w.changed[f"S|{w.partition}"] for w in writers]
    whole = days_between(None, None, spans)
    assert [d.isoformat() for d in whole] == ["1970-01-01", "2026-03-02"]
    after = days_between(datetime(1971, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC), spans)
    assert [d.isoformat() for d in after] == ["2026-03-02"]
    # A span stored before it listed its days still covers every day between its ends.
    legacy = [{"first": "2026-03-01", "last": "2026-03-03"}]
    assert len(days_between(None, None, legacy)) == 3


def test_chunks_written_before_the_origin_existed_read_as_company_items():
    # A chunk fact stored before own posts ends with its counters: it must count as a company item's.
    rnd = random.Random(11)
    hour = window_start(NOW, Granularity.HOUR)
    facts = []
    for n in range(200):
        f = random_fact(rnd, n)
        f.update(occurred_at=hour + timedelta(seconds=rnd.uniform(0, 3599)), post_origin="company")
        f["content_id"] = f["content_id"].replace("own:", "c")
        facts.append(f)
    stored = Stored()
    run(stored, [[(0, "share-made", n, f) for n, f in enumerate(facts)]], rnd)
    for rid, record in stored.table.items():
        if rid.startswith("F|"):
            record["facts"] = [entry[:-1] for entry in record["facts"]]  # the old shape
            stored.docs[rid] = _document(record)
    docs = RollupDocuments.__new__(RollupDocuments)
    docs.collection = stored
    docs.partitions = 1
    start, end = hour + timedelta(minutes=5), hour + timedelta(minutes=50)  # a cut hour: read from chunks
    for match in ({}, {"post_origin": "company"}, {"content_id": "c1"}):
        got = asyncio.run(docs.grouped(match, Granularity.ALL_TIME, start, end))
        assert got == reference(facts, match, Granularity.ALL_TIME, start, end), match
    assert asyncio.run(docs.grouped({"post_origin": "own"}, Granularity.ALL_TIME, start, end)) == {}
