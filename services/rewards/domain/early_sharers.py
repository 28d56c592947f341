"""Who counts as an early sharer of an item (pure): the first advocates to share it after publication."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.rewards.domain.rules import RuleSet


@dataclass
class EarlySharerRanking:
    """Per content item: who shared first within the window (a Faust table keyed by content id)."""

    # advocate id -> the share event id that ranked them (a replay re-announces the same one).
    sharers: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"sharers": self.sharers}

    @classmethod
    def from_dict(cls, doc: dict | None) -> EarlySharerRanking:
        return cls(sharers=dict((doc or {}).get("sharers", {})))


def rank_early_sharer(
    ranking: EarlySharerRanking,
    advocate_id: str,
    share_event_id: str,
    shared_at: datetime,
    published_at: datetime | None,
    rules: RuleSet,
) -> str | None:
    """The share event id that made this advocate an early sharer of the item, or None.

    Ranked in arrival order at the content's partition: the first `early_sharer_limit` distinct
    advocates whose share falls within the window after publication.
    """
    if advocate_id in ranking.sharers:
        return ranking.sharers[advocate_id]
    if published_at is None or len(ranking.sharers) >= rules.early_sharer_limit:
        return None
    if not timedelta(0) <= shared_at - published_at <= timedelta(hours=rules.early_sharer_window_hours):
        return None
    ranking.sharers[advocate_id] = share_event_id
    return share_event_id
