"""Metric formulas of the product (docs/product.md, "Metrics"), each stated where it is computed.

Every ratio is defined for a zero denominator: it is `None` ("not computable"), never a silent 0
and never a division error. Potential reach is never presented as measured reach.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or None when the denominator is 0 (nothing to divide by)."""
    if denominator == 0:
        return None
    return numerator / denominator


@dataclass(frozen=True)
class RateCard:
    """What one unit of attention is worth on one network, in the configured currency."""

    cpm: float  # cost per 1000 impressions
    cpc: float  # cost per click
    reaction_multiplier: float  # a reaction is worth this many clicks


@dataclass
class Totals:
    """Additive counters of one group (item, advocate, team, campaign, network, window).

    All fields are sums over facts, so two Totals add up to the Totals of the union.
    """

    shares: int = 0
    # Audience sizes at share time, each (item, advocate, network) once, at its first share
    # (potential, not measured): a repeated share's fact carries 0 here.
    potential_reach: int = 0
    impressions: int = 0  # network-reported impressions only
    clicks: int = 0  # unique clicks (bots, self-clicks and repeats within 30 min removed)
    reactions: int = 0
    comments: int = 0
    reshares: int = 0

    def add(self, other: Totals) -> None:
        for name in COUNTER_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))


COUNTER_FIELDS = ("shares", "potential_reach", "impressions", "clicks", "reactions", "comments", "reshares")


def potential_reach(shares: Iterable[tuple[Hashable, int]]) -> int:
    """Potential reach of a group = sum over its distinct (item, advocate, network) of the audience
    size at the first share of that triple (`shares`: (triple, audience size) in processing order).
    Sharing the same item to the same network again reaches the same people: a share, not reach.
    No time window (unlike the rewards' duplicate_window_hours): a triple counts once, ever."""
    first: dict[Hashable, int] = {}
    for triple, audience in shares:
        first.setdefault(triple, max(audience, 0))
    return sum(first.values())


def reach_key(content_id: str, advocate_id: str, network: str) -> str:
    """The (item, advocate, network) triple whose first share carries the audience into potential
    reach. JSON, so no id containing a separator can make two triples collide."""
    return json.dumps([content_id, advocate_id, network], separators=(",", ":"))


def engagements(t: Totals) -> int:
    """Engagements = unique clicks + reactions + comments + reshares (impressions are not engagement)."""
    return t.clicks + t.reactions + t.comments + t.reshares


class RateBasis(StrEnum):
    IMPRESSIONS = "IMPRESSIONS"  # over the networks that reported impressions
    POTENTIAL_REACH = "POTENTIAL_REACH"  # impressions unknown: the fallback, labelled as such
    NONE = "NONE"  # neither known: no rate


def _on_basis(by_network: Mapping[str, Totals], basis: str) -> tuple[Totals, int]:
    """The networks that contribute to a rate's denominator (`basis`: a Totals field), summed, and
    that denominator: a rate never divides one network's engagement by another network's basis."""
    counted = Totals()
    for t in by_network.values():
        if getattr(t, basis) > 0:
            counted.add(t)
    return counted, getattr(counted, basis)


def engagement_rate(by_network: Mapping[str, Totals]) -> tuple[float | None, RateBasis]:
    """Engagement rate = engagements / reported impressions, both over the networks that reported
    impressions in the group (a network without reported impressions is left out of the rate, not
    divided by another network's impressions). When no network reported any, engagements / potential
    reach over the networks shared on, labelled POTENTIAL_REACH; None when neither is known."""
    counted, impressions = _on_basis(by_network, "impressions")
    if impressions > 0:
        return engagements(counted) / impressions, RateBasis.IMPRESSIONS
    counted, reach = _on_basis(by_network, "potential_reach")
    if reach > 0:
        return engagements(counted) / reach, RateBasis.POTENTIAL_REACH
    return None, RateBasis.NONE


def click_through_rate(by_network: Mapping[str, Totals]) -> float | None:
    """CTR = unique clicks / reported impressions, both over the networks that reported impressions;
    None when no network did (unknown impressions)."""
    counted, impressions = _on_basis(by_network, "impressions")
    return ratio(counted.clicks, impressions)


def estimated_impressions(reach_by_network: Mapping[str, int], organic_reach_rate: Mapping[str, float]) -> float:
    """LABELLED ESTIMATE, never shown as impressions: sum over networks of
    organic-reach rate(network) * potential reach(network). A network without a rate counts 0."""
    return sum(organic_reach_rate.get(net, 0.0) * reach for net, reach in reach_by_network.items())


def earned_media_value(by_network: Mapping[str, Totals], rate_card: Mapping[str, RateCard]) -> float:
    """EMV = sum over networks of CPM * impressions / 1000 + CPC * (reaction multiplier * reactions + clicks).

    Only reported impressions count (never estimates); a network missing from the rate card is worth 0.
    """
    value = 0.0
    for net, t in by_network.items():
        card = rate_card.get(net)
        if card is None:
            continue
        value += card.cpm * t.impressions / 1000 + card.cpc * (card.reaction_multiplier * t.reactions + t.clicks)
    return value


def adoption(active: set[str], enrolled: set[str]) -> float | None:
    """Adoption = advocates with >= 1 share in the window / advocates enrolled during that window.

    Sharers who were not enrolled during the window are not counted (the ratio stays <= 1)."""
    return ratio(len(active & enrolled), len(enrolled))


def share_rate(distinct_sharers: set[str], audience: set[str]) -> float | None:
    """Share rate of an item = distinct sharers / advocates in its audience (sharers outside it ignored)."""
    return ratio(len(distinct_sharers & audience), len(audience))


def amplification_ratio(
    reach_by_network: Mapping[str, int], company_audience: Mapping[str, int], network: str | None = None
) -> float | None:
    """Amplification = potential reach of employee shares / audience of the company's own channels.

    Of a whole group (program, team, item ...): all its potential reach over all configured
    channels, a fixed denominator, so one more share never lowers the ratio. Of one `network`'s
    series: that network's reach over that network's channel only. None when the denominator is
    not configured (no channel at all, or none for that network)."""
    if network is not None:
        return ratio(reach_by_network.get(network, 0), company_audience.get(network, 0))
    return ratio(sum(reach_by_network.values()), company_channels(company_audience))


def company_channels(company_audience: Mapping[str, int]) -> int:
    """The audience of all the company's configured channels: a group's amplification denominator."""
    return sum(a for a in company_audience.values() if a > 0)


def leader_participation(active: set[str], enrolled_leaders: set[str]) -> float | None:
    """Leader participation = active leaders / enrolled leaders (active: >= 1 share in the window)."""
    return ratio(len(active & enrolled_leaders), len(enrolled_leaders))


@dataclass
class Group:
    """One group's totals with what is not additive: who shared, and the split per network."""

    totals: Totals = field(default_factory=Totals)
    sharers: set[str] = field(default_factory=set)
    by_network: dict[str, Totals] = field(default_factory=dict)

    def add(self, advocate_id: str, network: str, t: Totals) -> None:
        self.totals.add(t)
        if t.shares > 0:
            self.sharers.add(advocate_id)
        self.by_network.setdefault(network, Totals()).add(t)

    def reach_by_network(self) -> dict[str, int]:
        return {n: t.potential_reach for n, t in self.by_network.items()}
