"""Leaderboard rollups (domain/leaderboards.py): a top-N kept from growing totals equals the top N
of all totals; boards kept per partition and merged equal boards computed from every entry."""

from __future__ import annotations

import random
import zlib
from collections import defaultdict
from datetime import date

from services.rewards.domain import account, boards
from services.rewards.domain.leaderboards import (
    GLOBAL,
    TEAM,
    TEAMS,
    PartitionBoards,
    TopN,
    board_id,
    merge_rows,
    merge_teams,
)
from services.rewards.domain.rules import AdvocateState


def test_a_top_n_of_growing_totals_is_exact():
    rnd = random.Random(3)
    top = TopN(size=5)
    totals: dict[str, int] = defaultdict(int)
    for _ in range(2000):
        key = f"a{rnd.randrange(40)}"
        totals[key] += rnd.randrange(0, 20)
        if totals[key]:
            top.put(key, totals[key])
        want = sorted(((-p, k) for k, p in totals.items() if p), key=lambda r: r)[:5]
        assert sorted((-p, k) for k, p in top.rows.items()) == want


def test_boards_kept_per_partition_equal_boards_from_every_entry():
    rnd = random.Random(5)
    states: dict[str, AdvocateState] = defaultdict(AdvocateState)
    partitions = [PartitionBoards() for _ in range(3)]
    entries = []
    for n in range(600):
        advocate = f"a{rnd.randrange(30)}"
        day = f"2026-10-{rnd.randrange(1, 29):02d}"
        doc = {
            "_id": f"e{n}:share",
            "rule": "share",
            "points": rnd.randrange(0, 30),
            "local_day": day,
            "campaign_id": "",
            "team": f"t{int(advocate[1:]) % 4}",
            "leader": False,
        }
        entries.append((advocate, doc))
        account.book(states[advocate], doc)
        partitions[zlib.crc32(advocate.encode()) % 3].apply(advocate, states[advocate], set(account.period_keys(day)))
    week = account.period_key(boards.WEEK, date(2026, 10, 14))
    want: dict[str, int] = defaultdict(int)
    want_teams: dict[tuple[str, str], int] = defaultdict(int)
    for advocate, doc in entries:
        if "2026-10-12" <= doc["local_day"] <= "2026-10-18":
            want[advocate] += doc["points"]
            want_teams[(doc["team"], advocate)] += doc["points"]
    got = merge_rows(p.document(board_id(GLOBAL, "", week), i) for i, p in enumerate(partitions))
    assert [(r.key, r.points) for r in got] == [(r.key, r.points) for r in boards.rank(want) if r.points]
    team = merge_rows(p.document(board_id(TEAM, "t1", week), i) for i, p in enumerate(partitions))
    assert {r.key: r.points for r in team} == {a: v for (t, a), v in want_teams.items() if t == "t1" and v}
    fair = merge_teams((p.document(board_id(TEAMS, "", week), i) for i, p in enumerate(partitions)), True)
    assert fair == boards.rank_teams(dict(want_teams), per_active_advocate=True)
    # Rebuilt from the states alone (a new owner): the same documents.
    rebuilt = [PartitionBoards() for _ in range(3)]
    for advocate, state in states.items():
        rebuilt[zlib.crc32(advocate.encode()) % 3].apply(advocate, state)
    for i, (kept, again) in enumerate(zip(partitions, rebuilt, strict=True)):
        assert kept.all_ids() == again.all_ids()
        assert all(kept.document(b, i) == again.document(b, i) for b in kept.all_ids())
