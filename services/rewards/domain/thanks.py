"""The thank-you line sent with each award (pure)."""

from __future__ import annotations

from services.rewards.domain.rules import (
    CLICK,
    COMMENT,
    DUPLICATE_SHARE,
    EARLY_SHARER,
    FIRST_SHARE,
    LESSON,
    OWN_POST,
    PERSONAL_WORDING,
    REACTION,
    RESHARE,
    SHARE,
    STREAK,
    Award,
)

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
    pts = f"+{award.points} points"
    if award.capped and not award.points:
        return f"Thanks, {who}: you reached today's points cap, so this one is on the record but not counted."
    if award.capped:
        pts += f", {award.capped} over today's cap"
    lines = {
        SHARE: f"Thanks, {who}: your share on {where} can reach {audience_size:,} people ({pts}).",
        OWN_POST: f"Thanks, {who}: your own post on {where} can reach {audience_size:,} people ({pts}).",
        PERSONAL_WORDING: f"Thanks, {who}, for sharing in your own words ({pts}).",
        FIRST_SHARE: f"Thanks, {who}, for sharing this item for the first time ({pts}).",
        EARLY_SHARER: f"Thanks, {who}: you were among the first to share this item ({pts}).",
        STREAK: f"Thanks, {who}: that's a sharing streak ({pts}).",
        DUPLICATE_SHARE: f"Thanks, {who}: you shared this on {where} a short while ago, so no extra points this time.",
        CLICK: f"Thanks, {who}: your share on {where} got a click ({pts}).",
        REACTION: f"Thanks, {who}: people are reacting to your share on {where} ({pts}).",
        COMMENT: f"Thanks, {who}: your share on {where} started a conversation ({pts}).",
        RESHARE: f"Thanks, {who}: your share on {where} was reshared ({pts}).",
        LESSON: f"Thanks, {who}, for completing a training lesson: you're ready to share ({pts}).",
    }
    return lines.get(award.rule, f"Thanks, {who} ({pts} for {award.rule.replace('_', ' ')}).")
