"""Point rules as data, and their pure evaluation.

A rule set is versioned data (stored in MongoDB, changed through an admin RPC); every award names
the rule and the version that produced it, so a ledger entry can always be explained.

Evaluation is split so that every decision is reproducible:
- `evaluate_share` / `evaluate_engagement` / `early_sharer_award` / `lesson_award` give the awards of one event
  *before* the daily cap, from the advocate's own history (`AdvocateState`), which depends only on
  the order of that advocate's events within one topic partition (deterministic on replay);
- `apply_daily_cap` grants what fits under the cap given what the advocate already got that day.
  All points are non-negative, so a day's total is min(cap, sum) whatever order events arrive in.
  Lesson points (UNCAPPED) stay outside the cap: neither trimmed nor counted in the day's total.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from advocacy.common.v1.common_pb2 import Network

from services.rewards.domain import badges as badge_rules
from services.rewards.domain.badges import DEFAULT_BADGES, BadgeRule

# Rule names: stable identifiers written into the ledger (entry id = "<source event id>:<rule>").
SHARE = "share"
# An advocate's own post (their own URL and text, no company item): its base award.
OWN_POST = "own_post"
# The base awards of a share: what badges and streak runs count as a share.
SHARE_RULES = frozenset({SHARE, OWN_POST})
DUPLICATE_SHARE = "duplicate_share"
FIRST_SHARE = "first_share"
PERSONAL_WORDING = "personal_wording"
EARLY_SHARER = "early_sharer"
STREAK = "streak"
CLICK = "click"
REACTION = "reaction"
COMMENT = "comment"
RESHARE = "reshare"
REDEMPTION = "redemption"
LESSON = "lesson"
# The cap curbs points an advocate can multiply by sharing more; a lesson pays once per advocate
# and lesson, so capping it would only make a completion on a busy sharing day worth less.
UNCAPPED = frozenset({LESSON})
ENGAGEMENT_RULES = {
    "ENGAGEMENT_KIND_CLICK": CLICK,
    "ENGAGEMENT_KIND_REACTION": REACTION,
    "ENGAGEMENT_KIND_COMMENT": COMMENT,
    "ENGAGEMENT_KIND_RESHARE": RESHARE,
}


# Points, limits, hours: a bound far above any sensible rule, well inside int64 once summed.
MAX_RULE_VALUE = 1_000_000
NETWORK_NAMES = frozenset(Network.keys()) - {"NETWORK_UNSPECIFIED"}


@dataclass(frozen=True)
class RuleSet:
    """The default values are product.md's default rule set."""

    version: int = 1
    share_points_by_network: dict[str, int] = field(default_factory=dict)
    share_points_default: int = 10
    first_share_bonus: int = 5
    personal_wording_bonus: int = 5
    early_sharer_bonus: int = 5
    early_sharer_limit: int = 10
    early_sharer_window_hours: int = 24
    click_points: int = 2
    # One click per actor fingerprint per share per this many minutes (product.md: unique clicks).
    click_dedup_minutes: int = 30
    reaction_points: int = 1
    comment_points: int = 3
    reshare_points: int = 5
    streak_days: int = 3
    streak_bonus: int = 20
    duplicate_window_hours: int = 24
    # 0 = no cap.
    daily_cap: int = 200
    # A completed training lesson (issue 23), once per advocate and lesson.
    lesson_points: int = 20
    # An advocate's own post (issue 23): None = as a share on its network, else this many points.
    own_post_points: int | None = None
    badges: tuple[BadgeRule, ...] = DEFAULT_BADGES

    def validate(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int) and not 0 <= value <= MAX_RULE_VALUE:
                raise ValueError(f"{f.name}: must be 0..{MAX_RULE_VALUE}")
        for network, points in self.share_points_by_network.items():
            if network not in NETWORK_NAMES:
                raise ValueError(f"share_points_by_network: unknown network {network[:40]!r} (e.g. NETWORK_LINKEDIN)")
            if not 0 <= points <= MAX_RULE_VALUE:
                raise ValueError(f"share_points_by_network: {network} must be 0..{MAX_RULE_VALUE}")
        if self.streak_days < 1:
            raise ValueError("streak_days: must be >= 1")
        badge_rules.validate(self.badges)

    def share_points(self, network: str) -> int:
        return self.share_points_by_network.get(network, self.share_points_default)

    def own_post_points_on(self, network: str) -> int:
        return self.share_points(network) if self.own_post_points is None else self.own_post_points

    def engagement_points(self, rule: str) -> int:
        return {
            CLICK: self.click_points,
            REACTION: self.reaction_points,
            COMMENT: self.comment_points,
            RESHARE: self.reshare_points,
        }[rule]

    def to_doc(self) -> dict:
        return {**asdict(self), "badges": [b.to_doc() for b in self.badges]}

    @classmethod
    def from_doc(cls, doc: dict) -> RuleSet:
        known = {f.name for f in fields(cls)} - {"badges"}
        values: dict[str, Any] = {k: v for k, v in doc.items() if k in known}
        # A rule set stored before badges were data has no list: it means the default badges (and
        # one stored before lessons has no lesson_points: the dataclass default).
        stored = doc.get("badges")
        values["badges"] = DEFAULT_BADGES if stored is None else tuple(BadgeRule.from_doc(b) for b in stored)
        return cls(**values)


DEFAULT_RULES = RuleSet(version=1)


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    starts_at: datetime
    ends_at: datetime
    multiplier: float

    def factor_at(self, at: datetime) -> float:
        return self.multiplier if self.starts_at <= at < self.ends_at else 1.0


def campaign_factor(campaign: Campaign | None, at: datetime) -> float:
    return campaign.factor_at(at) if campaign is not None else 1.0


def multiply(points: int, factor: float) -> int:
    # Half up, so 1.5 times 5 is 8 on every platform (Python's round() is banker's rounding).
    return math.floor(points * factor + 0.5)


@dataclass(frozen=True)
class Award:
    """One rule's outcome for one event. `points` is granted; `capped` is what the daily cap withheld."""

    rule: str
    points: int
    capped: int = 0
    units: int = 1


def local_day(at: datetime, timezone: str) -> date:
    """The advocate's calendar day of an instant (UTC when the zone is unknown or empty)."""
    try:
        tz = ZoneInfo(timezone) if timezone else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    return at.astimezone(tz).date()


@dataclass
class AdvocateState:
    """One advocate's record in the award agent's table (JSON-able via to_dict): what the rules
    remember, the account (services/rewards/domain/account.py) and the source offsets applied."""

    shared_items: set[str] = field(default_factory=set)
    # Training lessons whose completion was awarded: one award per advocate and lesson, whatever
    # event ids their completions carry (bounded by the lessons there are).
    lessons_done: set[str] = field(default_factory=set)
    # Items whose early-sharer bonus was booked: the ranking re-sends a bonus after its own restart,
    # late in event time, so the recent-events horizon cannot be what recognises it.
    early_items: set[str] = field(default_factory=set)
    # "<content id>|<network>" -> epoch seconds of the last share that earned points.
    last_share: dict[str, float] = field(default_factory=dict)
    # ISO local days with at least one counted share (the most recent few, for streaks).
    share_days: list[str] = field(default_factory=list)
    # "<share id>|<fingerprint>" -> epoch seconds of the last counted click.
    clicks: dict[str, float] = field(default_factory=dict)
    # "<topic>/<partition>" -> last source offset applied: a redelivered event is recognised.
    offsets: dict[str, int] = field(default_factory=dict)
    # The account: points ever awarded and ever redeemed (both only grow; balance = difference).
    earned: int = 0
    redeemed: int = 0
    # Points granted per local day, for the daily cap: recent days only; days before `days_floor`
    # are forgotten and count as full.
    days: dict[str, int] = field(default_factory=dict)
    days_floor: str = ""
    # Awarded points per period key ("week:2026-10-05", "all_time", ...) and per
    # "<campaign>|<period key>": what the leaderboards rank (services/rewards/domain/leaderboards.py).
    totals: dict[str, int] = field(default_factory=dict)
    campaign_totals: dict[str, int] = field(default_factory=dict)
    # ... per "<team>|<period key>" (the team each entry was earned in) and of entries earned as a leader.
    team_totals: dict[str, int] = field(default_factory=dict)
    leader_totals: dict[str, int] = field(default_factory=dict)
    # What the badges count.
    shares: int = 0
    click_units: int = 0
    lessons: int = 0
    best_run: int = 0
    # The run of consecutive share days ending at `run_last` (the newest share day): share_days
    # remembers only a few days, too few to count a longer streak.
    run_days: int = 0
    run_last: str = ""
    leader: bool = False
    share_months: dict[str, int] = field(default_factory=dict)
    # "<kind>:<source event id>" -> epoch seconds, of the events applied in the last
    # RECENT_EVENTS_HOURS of event time: the same event sent twice (an at-least-once producer, a
    # re-announced early-sharer bonus) is recognised at another offset too.
    recent_events: dict[str, float] = field(default_factory=dict)
    # Redemption key -> its outcome ("redeemed", "insufficient_points", "out_of_stock").
    redemptions: dict[str, str] = field(default_factory=dict)
    # The effects of the last batch that changed this record, stored with it (services/rewards/
    # domain/account.py): [ledger entry, thank-you line] pairs to announce and redemption outcomes.
    outbox: list[list] = field(default_factory=list)
    outbox_outcomes: list[dict] = field(default_factory=list)

    @property
    def balance(self) -> int:
        return self.earned - self.redeemed

    def to_dict(self) -> dict:
        # Shallow (the record is written once, after its last change): asdict's deep copy costs
        # ~0.4 ms a state, more than evaluating the advocate's events.
        doc = {name: getattr(self, name) for name in _STATE_FIELDS}
        doc["shared_items"] = sorted(self.shared_items)
        doc["early_items"] = sorted(self.early_items)
        doc["lessons_done"] = sorted(self.lessons_done)
        return doc

    @classmethod
    def from_dict(cls, doc: dict | None) -> AdvocateState:
        doc = doc or {}
        known = {f.name for f in fields(cls)}
        # Copies: the table's cached value must not change before the state is written back.
        values: dict[str, Any] = {
            k: (v.copy() if isinstance(v, dict | list) else v) for k, v in doc.items() if k in known
        }
        values["shared_items"] = set(doc.get("shared_items", []))
        values["early_items"] = set(doc.get("early_items", []))
        values["lessons_done"] = set(doc.get("lessons_done", []))
        return cls(**values)

    def already_applied(self, source: str, offset: int) -> bool:
        return offset <= self.offsets.get(source, -1)

    def mark_applied(self, source: str, offset: int) -> None:
        self.offsets[source] = max(offset, self.offsets.get(source, -1))


_STATE_FIELDS = tuple(f.name for f in fields(AdvocateState))


@dataclass(frozen=True)
class ShareFacts:
    """What the rules need to know about one share."""

    network: str
    personal_wording: bool
    content_id: str = ""
    occurred_at: datetime | None = None
    timezone: str = ""
    # An advocate's own post: its content_id is synthetic (one per advocate and URL).
    own_post: bool = False


@dataclass(frozen=True)
class EngagementFacts:
    kind: str
    count: int
    share_id: str
    occurred_at: datetime
    actor_fingerprint: str = ""
    is_bot: bool = False
    is_self: bool = False


STREAK_MEMORY_DAYS = 14


def run_length(days: list[str], end: date) -> int:
    have = set(days)
    run = 0
    day = end
    while day.isoformat() in have:
        run += 1
        day -= timedelta(days=1)
    return run


def evaluate_share(state: AdvocateState, share: ShareFacts, rules: RuleSet, factor: float = 1.0) -> list[Award]:
    """Awards of one share before the daily cap; updates the advocate's state."""
    assert share.occurred_at is not None
    at = share.occurred_at.timestamp()
    key = f"{share.content_id}|{share.network}"
    last = state.last_share.get(key)
    if last is not None and 0 <= at - last < rules.duplicate_window_hours * 3600:
        # Same item, same network again within the window: recorded, worth nothing, no bonuses.
        return [Award(DUPLICATE_SHARE, 0)]
    state.last_share[key] = at
    # Forget duplicate windows long past, so the state stays small.
    horizon = at - 2 * rules.duplicate_window_hours * 3600
    state.last_share = {k: v for k, v in state.last_share.items() if v >= horizon}

    if share.own_post:
        awards = [Award(OWN_POST, rules.own_post_points_on(share.network))]
    else:
        awards = [Award(SHARE, rules.share_points(share.network))]
    if share.content_id not in state.shared_items:
        state.shared_items.add(share.content_id)
        if rules.first_share_bonus:
            awards.append(Award(FIRST_SHARE, rules.first_share_bonus))
    # Personal wording rewards rewording an item's suggested texts: an own post has none to copy.
    if share.personal_wording and rules.personal_wording_bonus and not share.own_post:
        awards.append(Award(PERSONAL_WORDING, rules.personal_wording_bonus))

    day = local_day(share.occurred_at, share.timezone)
    if day.isoformat() not in state.share_days:
        state.share_days = sorted({*state.share_days, day.isoformat()})[-STREAK_MEMORY_DAYS:]
        run = run_length(state.share_days, day)
        # A streak pays once per completed run of `streak_days` (days 3, 6, 9, … of a run).
        if rules.streak_bonus and run % rules.streak_days == 0:
            awards.append(Award(STREAK, rules.streak_bonus))
    return [replace(a, points=multiply(a.points, factor)) for a in awards]


def evaluate_engagement(
    state: AdvocateState, engagement: EngagementFacts, rules: RuleSet, factor: float = 1.0
) -> list[Award]:
    """Awards of one engagement before the daily cap (impressions earn nothing)."""
    rule = ENGAGEMENT_RULES.get(engagement.kind)
    if rule is None:
        return []
    units = max(engagement.count, 1)
    if rule == CLICK:
        if engagement.is_bot or engagement.is_self:
            return []
        if engagement.actor_fingerprint:
            at = engagement.occurred_at.timestamp()
            window = rules.click_dedup_minutes * 60
            key = f"{engagement.share_id}|{engagement.actor_fingerprint}"
            last = state.clicks.get(key)
            if last is not None and 0 <= at - last < window:
                return []
            state.clicks[key] = at
            state.clicks = {k: v for k, v in state.clicks.items() if v >= at - 2 * window}
            units = 1
    points = rules.engagement_points(rule) * units
    if not points:
        return []
    return [Award(rule, multiply(points, factor), units=units)]


def early_sharer_award(rules: RuleSet, factor: float = 1.0) -> list[Award]:
    if not rules.early_sharer_bonus:
        return []
    return [Award(EARLY_SHARER, multiply(rules.early_sharer_bonus, factor))]


def lesson_award(rules: RuleSet) -> list[Award]:
    """The award of a lesson's first completion by the advocate; an entry even at 0 points (the
    completion is on the record and counts for badges, as a zero-point share does)."""
    return [Award(LESSON, rules.lesson_points)]


def apply_daily_cap(awards: list[Award], already_today: int, rules: RuleSet) -> list[Award]:
    """Grants what fits under the daily cap; the excess stays on the entry as `capped`, not awarded.
    UNCAPPED rules are granted whole and take no room."""
    if not rules.daily_cap:
        return awards
    room = max(rules.daily_cap - already_today, 0)
    out = []
    for a in awards:
        if a.rule in UNCAPPED:
            out.append(a)
            continue
        granted = min(a.points, room)
        room -= granted
        out.append(replace(a, points=granted, capped=a.capped + a.points - granted))
    return out
