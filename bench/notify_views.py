"""What notify's in-memory views (services/notify/adapters/views.py) hold per award and per share:
synthetic `points-awarded` and `share-made` events shaped as the demo's (uuid hex event and content
ids, the demo's advocate ids, one award per click, engagement report or share rule) applied to a
`NotifyViews`, with tracemalloc measuring what the views keep (the events themselves are dropped).

    PYTHONPATH=$PWD:$PWD/gen/python .venv/bin/python -m bench.notify_views [events]

Prints bytes per award and per share, and the allocation sites that hold them.
"""

from __future__ import annotations

import gc
import random
import sys
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta

from advocacy.rewards.v1.rewards_pb2 import LedgerEntry, PointsAwarded
from advocacy.share.v1.share_pb2 import Share, ShareMade
from google.protobuf.timestamp_pb2 import Timestamp

from services.notify.adapters.views import NotifyViews

ADVOCATES = [f"demo-{i:04d}" for i in range(300)]  # `make run`'s company
ITEMS = [uuid.uuid4().hex for _ in range(40)]
RULES = ("click", "reaction", "comment", "share", "first_share", "personal_wording")
START = datetime(2026, 12, 7, tzinfo=UTC)


def _at(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(START + timedelta(seconds=seconds))
    return ts


def award(rng: random.Random, seconds: float) -> PointsAwarded:
    advocate, rule = rng.choice(ADVOCATES), rng.choice(RULES)
    entry = LedgerEntry(
        entry_id=f"{uuid.uuid4().hex}:{rule}",
        advocate_id=advocate,
        points=rng.choice((1, 2, 5, 10)),
        rule=rule,
        occurred_at=_at(seconds),
        content_id=rng.choice(ITEMS),
        local_day=(START + timedelta(seconds=seconds)).date().isoformat(),
        units=1,
    )
    return PointsAwarded(event_id=uuid.uuid4().hex, occurred_at=_at(seconds), entry=entry)


def share(rng: random.Random, seconds: float) -> ShareMade:
    made = Share(
        share_id=uuid.uuid4().hex,
        advocate_id=rng.choice(ADVOCATES),
        content_id=rng.choice(ITEMS),
        audience_size=rng.randrange(100, 5000),
        shared_at=_at(seconds),
    )
    return ShareMade(event_id=uuid.uuid4().hex, occurred_at=_at(seconds), share=made)


def held_bytes(views: NotifyViews, apply: str, make: object, count: int) -> tuple[float, list[str]]:
    """Bytes the views keep per applied event, and the top allocation sites of what they keep."""
    rng = random.Random(7)
    events = [make(rng, i * 0.2) for i in range(count)]  # type: ignore[operator]
    gc.collect()
    tracemalloc.start(4)
    before = tracemalloc.take_snapshot()
    for event in events:
        getattr(views, apply)(event)
    del events
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    diff = after.compare_to(before, "lineno")
    grown = sum(d.size_diff for d in diff)
    sites = [f"{d.size_diff / count:7.1f} B/event  {d.traceback[0]}" for d in diff[:6]]
    return grown / count, sites


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    for apply, make in (("apply_award", award), ("apply_share", share)):
        per_event, sites = held_bytes(NotifyViews(), apply, make, count)
        print(f"{apply}: {per_event:.0f} bytes held per event ({count:,} events)")
        for line in sites:
            print("   ", line)


if __name__ == "__main__":
    main()
