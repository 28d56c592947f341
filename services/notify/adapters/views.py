"""In-memory views the planner and delivery read, each kept from a whole topic by a TopicFollower
(every start rebuilds them, as the share service's views): the advocate directory from compacted
`advocate-changed`, published items from `content-published`, and from `points-awarded` and
`share-made` the recent awards, shares and who shared what. Awards and shares older than the
retention are dropped, so memory follows the number of advocates and items, not all history.

The awards and shares of the retention (15 days, for weekly digests sent late) are what fills up
under steady load: each is held as a tuple of its id, microseconds since the epoch and fields whose
strings (rules, content ids, days, advocates) are interned, about 230 bytes instead of a 570-byte
`Award` (bench/notify_views.py measures it; README, "Soak"). Reads build the domain objects back."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from advocacy.content.v1.content_pb2 import ContentPublished
from advocacy.rewards.v1.rewards_pb2 import PointsAwarded
from advocacy.share.v1.share_pb2 import AdvocateChanged, ShareMade
from google.protobuf.message import DecodeError
from google.protobuf.message import Message as ProtoMessage

from services.common.topic_view import TopicFollower
from services.notify.adapters import events
from services.notify.domain.planning import Advocate, Award, Item, ShareFact

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)

# An award as held: (occurred_at in µs since the epoch, points, rule, units, content_id, local_day).
HeldAward = tuple[int, int, str, int, str, str]
# A share as held: (occurred_at in µs since the epoch, content_id, audience).
HeldShare = tuple[int, str, int]


def micros(at: datetime) -> int:
    """Exact (a float of seconds would round some microseconds)."""
    return (at - EPOCH) // MICROSECOND


def _at(us: int) -> datetime:
    return EPOCH + us * MICROSECOND


def _hold_award(a: Award) -> HeldAward:
    # Rules, contents and days repeat across awards: interned, one copy each.
    return (
        micros(a.occurred_at),
        a.points,
        sys.intern(a.rule),
        a.units,
        sys.intern(a.content_id),
        sys.intern(a.local_day),
    )


def _award(entry_id: str, advocate_id: str, held: HeldAward) -> Award:
    us, points, rule, units, content_id, local_day = held
    return Award(entry_id, advocate_id, points, rule, _at(us), local_day, units, content_id)


class NotifyViews:
    def __init__(self, retention: timedelta = timedelta(days=15)) -> None:
        self._retention = retention
        self._advocates: dict[str, tuple[int, Advocate]] = {}
        self._items: dict[str, tuple[int, Item]] = {}
        self._awards: dict[str, dict[str, HeldAward]] = {}  # advocate -> entry id -> award
        self._shares: dict[str, dict[str, HeldShare]] = {}  # advocate -> share id -> share
        self._sharers: dict[str, set[str]] = {}  # content -> advocates who shared it
        self._withdrawn: set[str] = set()  # items expired or archived (until published again)
        self._pruned_at: datetime | None = None
        self.followers: list[TopicFollower] = []

    # --- applying events (each ignores what it cannot use: the topics' consumers dead-letter it)
    def apply_advocate(self, event: AdvocateChanged) -> None:
        a = events.advocate(event)
        held = self._advocates.get(a.advocate_id)
        if held is None or held[0] <= event.version:
            self._advocates[a.advocate_id] = (event.version, a)

    def apply_content(self, event: ContentPublished) -> None:
        item = events.item(event.item)
        held = self._items.get(item.content_id)
        if held is not None and held[0] > event.item.version:
            return
        if event.kind == ContentPublished.Kind.KIND_PUBLISHED:
            self._items[item.content_id] = (event.item.version, item)
            self._withdrawn.discard(item.content_id)
        else:  # expired or archived: no longer offered, nor shared by leaders
            self._items.pop(item.content_id, None)
            self._sharers.pop(item.content_id, None)
            self._withdrawn.add(item.content_id)

    def apply_award(self, event: PointsAwarded) -> None:
        award = events.award(event)
        self._awards.setdefault(award.advocate_id, {})[award.entry_id] = _hold_award(award)
        self._prune(award.occurred_at)

    def apply_share(self, event: ShareMade) -> None:
        fact = events.share(event)
        content_id = sys.intern(fact.content_id)
        held = (micros(fact.occurred_at), content_id, fact.audience)
        self._shares.setdefault(fact.advocate_id, {})[event.share.share_id or event.event_id] = held
        if not event.share.own_post:  # sharers of items; an own post's id names no item
            self._sharers.setdefault(content_id, set()).add(sys.intern(fact.advocate_id))
        self._prune(fact.occurred_at)

    def _prune(self, at: datetime) -> None:
        """Drops awards and shares older than the retention, once per retention/10 of event time."""
        if self._pruned_at is not None and at - self._pruned_at < self._retention / 10:
            return
        self._pruned_at = at
        horizon = micros(at - self._retention)
        held: list[dict[str, HeldAward] | dict[str, HeldShare]] = [*self._awards.values(), *self._shares.values()]
        for by_id in held:
            for key in [k for k, v in by_id.items() if v[0] < horizon]:
                del by_id[key]

    # --- reading
    def advocate(self, advocate_id: str) -> Advocate | None:
        held = self._advocates.get(advocate_id)
        return held[1] if held else None

    def advocates(self) -> Iterable[Advocate]:
        return [a for _, a in self._advocates.values()]

    def item(self, content_id: str) -> Item | None:
        held = self._items.get(content_id)
        return held[1] if held else None

    def withdrawn(self, content_id: str) -> bool:
        """Whether the item was expired or archived (an item not seen yet is not withdrawn)."""
        return content_id in self._withdrawn

    def items(self) -> Iterable[Item]:
        return [i for _, i in self._items.values()]

    def awards(self, advocate_id: str, start: datetime, end: datetime) -> list[Award]:
        low, high = micros(start), micros(end)
        held = self._awards.get(advocate_id, {})
        found = [_award(k, advocate_id, v) for k, v in held.items() if low <= v[0] < high]
        return sorted(found, key=lambda a: (a.occurred_at, a.entry_id))

    def shares(self, advocate_id: str) -> list[ShareFact]:
        held = sorted(self._shares.get(advocate_id, {}).values(), key=lambda s: s[0])
        return [ShareFact(advocate_id, content_id, audience, _at(us)) for us, content_id, audience in held]

    def sharers(self, content_id: str) -> set[str]:
        return set(self._sharers.get(content_id, ()))

    def totals(self, start: datetime, end: datetime) -> dict[str, int]:
        """Points per advocate in [start, end), every advocate in the directory included (with 0)."""
        totals = {advocate_id: 0 for advocate_id in self._advocates}
        low, high = micros(start), micros(end)
        for advocate_id, by_id in self._awards.items():
            totals[advocate_id] = sum(v[1] for v in by_id.values() if low <= v[0] < high)
        return totals

    def current(self) -> bool:
        return all(f.current for f in self.followers)

    # --- following the topics
    def follow(self, bootstrap: str, topic: Callable[[str], str], max_lag_seconds: float) -> list[TopicFollower]:
        sources: list[tuple[str, type[ProtoMessage], Callable[[ProtoMessage], None]]] = [
            ("advocate-changed", AdvocateChanged, self.apply_advocate),  # type: ignore[list-item]
            ("content-published", ContentPublished, self.apply_content),  # type: ignore[list-item]
            ("points-awarded", PointsAwarded, self.apply_award),  # type: ignore[list-item]
            ("share-made", ShareMade, self.apply_share),  # type: ignore[list-item]
        ]
        self.followers = [
            TopicFollower(bootstrap, topic(name), _decoding(kind, apply), f"notify-view-{name}", max_lag_seconds)
            for name, kind, apply in sources
        ]
        return self.followers


def _decoding(kind: type[ProtoMessage], apply: Callable[[ProtoMessage], None]) -> Callable[[bytes], None]:
    def record(value: bytes) -> None:
        try:
            apply(kind.FromString(value))
        except (DecodeError, ValueError):
            pass  # poison: the planner's consumer dead-letters it; a view simply does not hold it

    return record
