"""Point rules as data, and their pure evaluation.

A rule set is versioned data; every award names the rule and the version that produced it,
so a ledger entry can always be explained.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RuleSet:
    version: int
    share_points_by_network: dict[str, int] = field(default_factory=dict)
    share_points_default: int = 10
    personal_wording_bonus: int = 5


DEFAULT_RULES = RuleSet(version=1)


@dataclass(frozen=True)
class ShareFacts:
    """What the rules need to know about one share."""

    network: str
    personal_wording: bool


@dataclass(frozen=True)
class Award:
    rule: str
    points: int


def awards_for_share(share: ShareFacts, rules: RuleSet) -> list[Award]:
    awards = [Award("share", rules.share_points_by_network.get(share.network, rules.share_points_default))]
    if share.personal_wording and rules.personal_wording_bonus:
        awards.append(Award("personal_wording", rules.personal_wording_bonus))
    return awards


_NETWORK_NAMES = {
    "NETWORK_LINKEDIN": "LinkedIn",
    "NETWORK_X": "X",
    "NETWORK_FACEBOOK": "Facebook",
    "NETWORK_XING": "Xing",
    "NETWORK_INSTAGRAM": "Instagram",
}


def thank_you(first_name: str, award: Award, network: str, audience_size: int) -> str:
    """The human line a notifier can send for one award."""
    who = first_name or "there"
    where = _NETWORK_NAMES.get(network, network)
    if award.rule == "share":
        return f"Thanks, {who}: your share on {where} can reach {audience_size:,} people (+{award.points} points)."
    if award.rule == "personal_wording":
        return f"Thanks, {who}, for sharing in your own words (+{award.points} points)."
    return f"Thanks, {who} (+{award.points} points for {award.rule.replace('_', ' ')})."
