"""In-memory views the planner and delivery read, each kept from a whole topic by a TopicFollower
(every start rebuilds them, as the share service's views): the advocate directory from compacted
`advocate-changed`, published items from `content-published`, and from `points-awarded` and
`share-made` the recent awards, shares and who shared what. Awards and shares older than the
retention are dropped, so memory follows the number of advocates and items, not all history."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from advocacy.content.v1.content_pb2 import ContentPublished
from advocacy.rewards.v1.rewards_pb2 import PointsAwarded
from advocacy.share.v1.share_pb2 import AdvocateChanged, ShareMade
from google.protobuf.message import DecodeError
from google.protobuf.message import Message as ProtoMessage

from services.common.topic_view import TopicFollower
from services.notify.adapters import events
from services.notify.domain.planning import Advocate, Award, Item, ShareFact


class NotifyViews:
    def __init__(self, retention: timedelta = timedelta(days=15)) -> None:
        self._retention = retention
        self._advocates: dict[str, tuple[int, Advocate]] = {}
        self._items: dict[str, tuple[int, Item]] = {}
        self._awards: dict[str, dict[str, Award]] = {}  # advocate -> entry id -> award
        self._shares: dict[str, dict[str, ShareFact]] = {}  # advocate -> share id -> share
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
        self._awards.setdefault(award.advocate_id, {})[award.entry_id] = award
        self._prune(award.occurred_at)

    def apply_share(self, event: ShareMade) -> None:
        fact = events.share(event)
        self._shares.setdefault(fact.advocate_id, {})[event.share.share_id or event.event_id] = fact
        self._sharers.setdefault(fact.content_id, set()).add(fact.advocate_id)
        self._prune(fact.occurred_at)

    def _prune(self, at: datetime) -> None:
        """Drops awards and shares older than the retention, once per retention/10 of event time."""
        if self._pruned_at is not None and at - self._pruned_at < self._retention / 10:
            return
        self._pruned_at = at
        horizon = at - self._retention
        for awards in self._awards.values():
            for key in [k for k, v in awards.items() if v.occurred_at < horizon]:
                del awards[key]
        for shares in self._shares.values():
            for key in [k for k, v in shares.items() if v.occurred_at < horizon]:
                del shares[key]

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
        found = (a for a in self._awards.get(advocate_id, {}).values() if start <= a.occurred_at < end)
        return sorted(found, key=lambda a: (a.occurred_at, a.entry_id))

    def shares(self, advocate_id: str) -> list[ShareFact]:
        return sorted(self._shares.get(advocate_id, {}).values(), key=lambda s: s.occurred_at)

    def sharers(self, content_id: str) -> set[str]:
        return set(self._sharers.get(content_id, ()))

    def totals(self, start: datetime, end: datetime) -> dict[str, int]:
        """Points per advocate in [start, end), every advocate in the directory included (with 0)."""
        totals = {advocate_id: 0 for advocate_id in self._advocates}
        for advocate_id, by_id in self._awards.items():
            totals[advocate_id] = sum(a.points for a in by_id.values() if start <= a.occurred_at < end)
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
