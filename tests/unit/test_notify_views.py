"""Notify's in-memory views (services/notify/adapters/views.py) hold the awards and shares of their
retention compactly: what the planner and delivery read back is the same, and an award or a share
costs about 240 and 270 bytes where a domain object per event cost 566 and 463 (bench/notify_views.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from advocacy.rewards.v1.rewards_pb2 import LedgerEntry, PointsAwarded
from advocacy.share.v1.share_pb2 import Share, ShareMade
from google.protobuf.timestamp_pb2 import Timestamp

from bench.notify_views import award, held_bytes, share
from services.notify.adapters.views import NotifyViews, micros
from services.notify.domain.planning import Award, ShareFact

T0 = datetime(2026, 12, 7, 9, 0, 0, 123457, tzinfo=UTC)  # microseconds that a float of seconds rounds


def ts(at: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(at)
    return out


def awarded(entry_id: str, at: datetime, points: int = 5, rule: str = "click") -> PointsAwarded:
    entry = LedgerEntry(
        entry_id=entry_id,
        advocate_id="ada",
        points=points,
        rule=rule,
        occurred_at=ts(at),
        content_id="c1",
        local_day=at.date().isoformat(),
        units=2,
    )
    return PointsAwarded(event_id=entry_id, entry=entry)


def shared(share_id: str, at: datetime, audience: int) -> ShareMade:
    made = Share(share_id=share_id, advocate_id="ada", content_id="c1", audience_size=audience, shared_at=ts(at))
    return ShareMade(event_id=share_id, share=made)


def test_what_is_read_back_is_what_was_applied() -> None:
    views = NotifyViews()
    views.apply_award(awarded("e2", T0 + timedelta(seconds=1), points=3, rule="reaction"))
    views.apply_award(awarded("e1", T0))
    views.apply_award(awarded("e1", T0))  # redelivered: held once
    views.apply_share(shared("s1", T0, 1200))
    assert views.awards("ada", T0, T0 + timedelta(seconds=2)) == [
        Award("e1", "ada", 5, "click", T0, "2026-12-07", 2, "c1"),
        Award("e2", "ada", 3, "reaction", T0 + timedelta(seconds=1), "2026-12-07", 2, "c1"),
    ]
    # The window's bounds are exact to the microsecond: [start, end).
    assert [a.entry_id for a in views.awards("ada", T0 + timedelta(microseconds=1), T0 + timedelta(seconds=2))] == [
        "e2"
    ]
    assert views.awards("ada", T0 - timedelta(seconds=1), T0) == []
    assert views.shares("ada") == [ShareFact("ada", "c1", 1200, T0)]
    assert views.totals(T0, T0 + timedelta(seconds=1)) == {"ada": 5}
    assert views.sharers("c1") == {"ada"}
    assert micros(T0) % 1_000_000 == 123457


def test_awards_and_shares_older_than_the_retention_are_dropped() -> None:
    views = NotifyViews(retention=timedelta(days=15))
    views.apply_award(awarded("old", T0))
    views.apply_share(shared("s-old", T0, 100))
    later = T0 + timedelta(days=16)
    views.apply_award(awarded("new", later))
    views.apply_share(shared("s-new", later, 200))
    assert [a.entry_id for a in views.awards("ada", T0, later + timedelta(seconds=1))] == ["new"]
    assert views.shares("ada") == [ShareFact("ada", "c1", 200, later)]


def test_an_award_and_a_share_are_held_compactly() -> None:
    # The 15-day retention fills for 15 days under steady load: its cost per event is the slope.
    per_award, _ = held_bytes(NotifyViews(), "apply_award", award, 10_000)
    per_share, _ = held_bytes(NotifyViews(), "apply_share", share, 10_000)
    assert per_award < 300 and per_share < 320, (per_award, per_share)


def test_an_own_post_counts_in_the_advocates_shares_but_makes_no_sharer_of_an_item() -> None:
    views = NotifyViews()
    own = shared("s9", T0, 800)
    own.share.content_id, own.share.own_post = "own:abc", True
    views.apply_share(own)
    assert views.shares("ada") == [ShareFact("ada", "own:abc", 800, T0)]  # the digest's reach and shares
    assert views.sharers("own:abc") == set()
