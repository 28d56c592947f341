"""One figure set (`Point`) from grouped facts, and its CSV rendering. Pure."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from services.analytics.domain import metrics as m
from services.analytics.domain.audience import AudienceRule, Period, enrolled_during


@dataclass(frozen=True)
class Member:
    """An advocate as the reports need them (latest known state)."""

    advocate_id: str
    team: str
    location: str
    language: str
    role: str
    leader: bool
    periods: tuple[Period, ...]


@dataclass(frozen=True)
class Config:
    rate_card: Mapping[str, m.RateCard]
    organic_reach_rate: Mapping[str, float]
    company_channel_audience: Mapping[str, int]


@dataclass
class Point:
    window_start: datetime | None
    shares: int
    distinct_sharers: int
    potential_reach: int
    impressions_reported: int
    impressions_estimated: float
    unique_clicks: int
    reactions: int
    comments: int
    reshares: int
    engagements: int
    engagement_rate: float | None
    engagement_rate_basis: m.RateBasis
    ctr: float | None
    earned_media_value: float
    amplification_ratio: float | None
    adoption: float | None
    active_advocates: int
    enrolled_advocates: int
    share_rate: float | None
    leader_potential_reach: int
    non_leader_potential_reach: int
    leader_engagements: int
    non_leader_engagements: int
    # Where adoption is (its base's leaders): active leaders / leaders enrolled during the window.
    leader_participation: float | None = None
    active_leaders: int = 0
    enrolled_leaders: int = 0


def merge(by_leader: Mapping[bool, m.Group]) -> m.Group:
    out = m.Group()
    for g in by_leader.values():
        out.totals.add(g.totals)
        out.sharers |= g.sharers
        for net, t in g.by_network.items():
            out.by_network.setdefault(net, m.Totals()).add(t)
    return out


def enrolled(members: Iterable[Member], start: datetime | None, end: datetime | None) -> list[Member]:
    return [a for a in members if enrolled_during(a.periods, start, end)]


def point(
    by_leader: Mapping[bool, m.Group],
    config: Config,
    window_start: datetime | None,
    *,
    adoption_base: Sequence[Member] | None = None,
    audience: Sequence[Member] | None = None,
    network: str | None = None,
) -> Point:
    """Every figure of one group in one window.

    `adoption_base`: the advocates enrolled during the window who could adopt (ADVOCATE, TEAM,
    PROGRAM), its leaders the base of leader participation; `audience`: the enrolled advocates the
    item was for (CONTENT: share rate); `network`: the network of a NETWORK series (amplification
    against that network's channel only)."""
    g = merge(by_leader)
    t = g.totals
    rate, basis = m.engagement_rate(g.by_network)
    leaders = by_leader.get(True, m.Group()).totals
    others = by_leader.get(False, m.Group()).totals
    base_ids = {a.advocate_id for a in adoption_base} if adoption_base is not None else set()
    leader_ids = {a.advocate_id for a in adoption_base if a.leader} if adoption_base is not None else set()
    return Point(
        window_start=window_start,
        shares=t.shares,
        distinct_sharers=len(g.sharers),
        potential_reach=t.potential_reach,
        impressions_reported=t.impressions,
        impressions_estimated=m.estimated_impressions(g.reach_by_network(), config.organic_reach_rate),
        unique_clicks=t.clicks,
        reactions=t.reactions,
        comments=t.comments,
        reshares=t.reshares,
        engagements=m.engagements(t),
        engagement_rate=rate,
        engagement_rate_basis=basis,
        ctr=m.click_through_rate(g.by_network),
        earned_media_value=m.earned_media_value(g.by_network, config.rate_card),
        amplification_ratio=m.amplification_ratio(g.reach_by_network(), config.company_channel_audience, network),
        adoption=m.adoption(g.sharers, base_ids) if adoption_base is not None else None,
        active_advocates=len(g.sharers & base_ids),
        enrolled_advocates=len(base_ids),
        share_rate=(m.share_rate(g.sharers, {a.advocate_id for a in audience}) if audience is not None else None),
        leader_potential_reach=leaders.potential_reach,
        non_leader_potential_reach=others.potential_reach,
        leader_engagements=m.engagements(leaders),
        non_leader_engagements=m.engagements(others),
        leader_participation=(m.leader_participation(g.sharers, leader_ids) if adoption_base is not None else None),
        active_leaders=len(g.sharers & leader_ids),
        enrolled_leaders=len(leader_ids),
    )


def in_audience(members: Iterable[Member], rule: AudienceRule) -> list[Member]:
    return [a for a in members if rule.includes(a.team, a.location, a.language, a.role)]


POINT_COLUMNS = [f.name for f in fields(Point)]
# How earned_media_value was priced, on every row (a file passed on alone still says it).
PRICING_COLUMNS = ["currency", "rate_card_version"]
CSV_COLUMNS = POINT_COLUMNS + PRICING_COLUMNS


def to_csv(points: Iterable[Point], *, currency: str, rate_card_version: int, header: bool = True) -> str:
    """RFC 4180 CSV (with a header row unless `header` is False: a later page of an export); a
    ratio that cannot be computed is an empty cell."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    for p in points:
        row = []
        for name in POINT_COLUMNS:
            value = getattr(p, name)
            if value is None:
                row.append("")
            elif isinstance(value, datetime):
                row.append(value.isoformat())
            elif isinstance(value, m.RateBasis):
                row.append(value.value)
            else:
                row.append(str(value))
        writer.writerow([*row, currency, str(rate_card_version)])
    return buf.getvalue()
