"""Badges as data: the rules an advocate's badges are earned by, and their pure evaluation.

A badge rule names what it measures (its kind) and the value to reach (its threshold); the rule
set in force carries the list (services/rewards/domain/rules.py), so an admin adds a badge or
changes a threshold without a deploy. The counters the kinds read are kept in the advocate's state
(services/rewards/domain/account.py), each one only growing, so any threshold can be reached.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields

# Kinds: what a badge measures.
SHARES = "shares"
CLICKS = "clicks"
STREAK_DAYS = "streak_days"
MONTHLY_RANK = "monthly_rank"
LEADER_MONTH_SHARES = "leader_month_shares"
LESSONS_COMPLETED = "lessons_completed"
KINDS = (SHARES, CLICKS, STREAK_DAYS, MONTHLY_RANK, LEADER_MONTH_SHARES, LESSONS_COMPLETED)

# GetBadges ranks an advocate on the top rows a board keeps (leaderboards.TOP_N): a deeper rank
# threshold could never be told apart from "not ranked".
MAX_RANK = 500
MAX_BADGES = 100
MAX_THRESHOLD = 1_000_000_000
MAX_NAME = 100
MAX_DESCRIPTION = 500
_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


@dataclass(frozen=True)
class BadgeRule:
    badge_id: str
    name: str
    kind: str
    threshold: int
    description: str = ""

    def to_doc(self) -> dict:
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: dict) -> BadgeRule:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in known})


# product.md's six examples and issue 23's "ready to share" (one completed lesson): the badges of
# any rule set stored without a list. A stored list stays as it was (an admin adds the new badge).
DEFAULT_BADGES: tuple[BadgeRule, ...] = (
    BadgeRule("first_share", "First share", SHARES, 1, "Shared content for the first time."),
    BadgeRule("ten_shares", "10 shares", SHARES, 10, "Shared content 10 times."),
    BadgeRule("hundred_clicks", "100 clicks", CLICKS, 100, "Shares that drew 100 unique clicks."),
    BadgeRule("seven_day_streak", "7-day streak", STREAK_DAYS, 7, "Shared on 7 days in a row."),
    BadgeRule(
        "top_ten_of_month", "Top ten of the month", MONTHLY_RANK, 10, "Among the top 10 of this month's global board."
    ),
    BadgeRule("leader_voice", "Leader voice", LEADER_MONTH_SHARES, 5, "A leader who shared 5 times in one month."),
    BadgeRule("ready-to-share", "Ready to share", LESSONS_COMPLETED, 1, "Completed a training lesson."),
)


@dataclass(frozen=True)
class BadgeFacts:
    shares: int
    clicks: int
    longest_run: int  # the longest run of consecutive local days with a share
    leader: bool
    max_month_shares: int  # the most shares in one calendar month
    monthly_rank: int | None  # rank on this month's global board, 1-based
    lessons_completed: int = 0  # distinct training lessons completed


def reached(rule: BadgeRule, f: BadgeFacts) -> bool:
    if rule.kind == SHARES:
        return f.shares >= rule.threshold
    if rule.kind == CLICKS:
        return f.clicks >= rule.threshold
    if rule.kind == STREAK_DAYS:
        return f.longest_run >= rule.threshold
    if rule.kind == MONTHLY_RANK:
        return f.monthly_rank is not None and f.monthly_rank <= rule.threshold
    if rule.kind == LEADER_MONTH_SHARES:
        return f.leader and f.max_month_shares >= rule.threshold
    if rule.kind == LESSONS_COMPLETED:
        return f.lessons_completed >= rule.threshold
    raise ValueError(f"kind: unknown {rule.kind!r}")


def earned(rules: Iterable[BadgeRule], f: BadgeFacts) -> list[BadgeRule]:
    """The badges reached, in the rule set's order."""
    return [rule for rule in rules if reached(rule, f)]


def needs_rank(rules: Iterable[BadgeRule]) -> bool:
    return any(rule.kind == MONTHLY_RANK for rule in rules)


def validate(rules: Sequence[BadgeRule]) -> None:
    """Raises ValueError("badges[i].<field>: ...") for the first rule an admin must fix."""
    if len(rules) > MAX_BADGES:
        raise ValueError(f"badges: at most {MAX_BADGES}")
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        where = f"badges[{i}]"
        if not _ID.fullmatch(rule.badge_id):
            raise ValueError(f"{where}.badge_id: 1..64 of a-z, 0-9, '_' and '-', starting with a letter or digit")
        if rule.badge_id in seen:
            raise ValueError(f"{where}.badge_id: {rule.badge_id!r} appears twice")
        seen.add(rule.badge_id)
        if not rule.name.strip() or len(rule.name) > MAX_NAME:
            raise ValueError(f"{where}.name: must be 1..{MAX_NAME} characters")
        if len(rule.description) > MAX_DESCRIPTION:
            raise ValueError(f"{where}.description: at most {MAX_DESCRIPTION} characters")
        if rule.kind not in KINDS:
            raise ValueError(f"{where}.kind: must be one of {', '.join(KINDS)}")
        top = MAX_RANK if rule.kind == MONTHLY_RANK else MAX_THRESHOLD
        if not 1 <= rule.threshold <= top:
            raise ValueError(f"{where}.threshold: must be 1..{top} for {rule.kind}")
