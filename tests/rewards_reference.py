"""An independent reference for the rewards service: the ledger, daily totals, balances and
leaderboards a history of `share-made` / `engagement-observed` / `lesson-completed` events must
produce (and who completed a lesson, for the "ready to share" badge), computed from
the rule values with this module's own arithmetic. It imports nothing from `services/rewards`, so
a wrong rule in the service shows up as a difference instead of being repeated here.

The rules (product.md's default rule set; the service's documented reading where product.md is
silent):
- a share earns 10; +5 for the advocate's first share of the item; +5 for personal wording (the
  share event's `personal_wording` flag, decided by the share service); the same item on the same
  network again within 24 h of the last share that earned points is recorded with 0 points and no
  bonus of any kind (nor does it count as a sharing day);
- streak: +20 on the 3rd, 6th, 9th, ... consecutive local day with a counted share, on that day's
  first counted share;
- early sharer: +5, as its own entry, to each of the first 10 distinct advocates whose share of an
  item falls within [publication, publication + 24 h];
- engagement: a click 2 (never a bot's nor the sharer's own; one per actor fingerprint and share:
  a click within 30 minutes of the last one counted is not counted), a reaction 1, a comment 3, a
  reshare 5, each per unit of the event's count (at least 1; a fingerprinted click is one unit);
  impressions earn nothing;
- campaign: each entry times the multiplier of the event's campaign while it runs
  ([starts_at, ends_at) of the event's time), rounded half up, before the daily cap;
- own post (`share.own_post`: the advocate's own URL and text, a synthetic content id per advocate
  and URL): `own_post` points (None = as a share: 10) as entry "<event id>:own_post", instead of
  the share's 10; first share (of that synthetic id), duplicate window, streak and daily cap as for a
  share; never a personal-wording nor an early-sharer bonus, never a campaign; engagement on it
  earns as on any share;
- lesson: 20 for an advocate's first completion of a lesson, as entry "<event id>:lesson" on the
  local day of the completion, without campaign; a completion sent again (the same event id) or a
  later completion of the same lesson under another id earns nothing and makes no entry; an entry
  even at 0 points (a completion is on the record);
- daily cap: 200 per advocate and local day (the advocate's time zone, UTC if unknown); the excess
  stays on the entries as `capped`, not awarded. Lesson points are outside it: never trimmed, and
  they leave the day's room to the other rules.

Events must come in time order per advocate, as the share service emits them (asserted); a
completion sent again is the same event (its time is the original's) and may come at any place.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from advocacy.common.v1.common_pb2 import Network
from advocacy.content.v1.content_pb2 import LessonCompleted
from advocacy.share.v1.share_pb2 import EngagementKind, EngagementObserved, ShareMade


@dataclass(frozen=True)
class Rules:
    """Plain rule values; the defaults are product.md's default rule set."""

    share: int = 10
    first_share: int = 5
    personal_wording: int = 5
    early_sharer: int = 5
    early_sharers: int = 10
    early_window: timedelta = timedelta(hours=24)
    click: int = 2
    click_window: timedelta = timedelta(minutes=30)
    reaction: int = 1
    comment: int = 3
    reshare: int = 5
    streak_days: int = 3
    streak: int = 20
    # The service remembers only an advocate's last 14 sharing days (STREAK_MEMORY_DAYS), so a run
    # longer than 14 days counts as 14 and pays no streak after its 12th day, although product.md
    # and the service's own docstring say every 3rd day of a run. None = the documented rule.
    streak_memory_days: int | None = 14
    duplicate_window: timedelta = timedelta(hours=24)
    daily_cap: int = 200
    lesson: int = 20
    # None: an own post earns what a share earns.
    own_post: int | None = None


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    starts_at: datetime
    ends_at: datetime
    multiplier: float


@dataclass(frozen=True)
class Entry:
    """One expected ledger entry; `points` is before the daily cap (granted + capped)."""

    advocate_id: str
    day: str
    rule: str
    points: int
    campaign_id: str


LESSON = "lesson"


@dataclass
class Reference:
    entries: dict[str, Entry] = field(default_factory=dict)  # entry id "<source event id>:<rule>"
    by_day: dict[tuple[str, str], int] = field(default_factory=dict)  # granted, per (advocate, local day)
    # ... of the rules under the daily cap (all but lessons): what campaigns can carry.
    capped_rules_by_day: dict[tuple[str, str], int] = field(default_factory=dict)
    capped_days: int = 0
    lessons_completed: dict[str, int] = field(default_factory=dict)  # distinct lessons per advocate

    @property
    def balances(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for (advocate, _day), points in self.by_day.items():
            out[advocate] += points
        return dict(out)

    def campaign_of_day(self) -> dict[tuple[str, str], str]:
        """The campaign of each (advocate, day) with entries; a day with two would make which
        entries the cap trims decide the campaign board, so it is refused."""
        out: dict[tuple[str, str], str] = {}
        for e in self.entries.values():
            if e.rule == LESSON:  # never of a campaign
                continue
            assert out.setdefault((e.advocate_id, e.day), e.campaign_id) == e.campaign_id, (e.advocate_id, e.day)
        return out


def local_day(at: datetime, timezone: str) -> date:
    try:
        zone = ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return at.astimezone(zone).date()


def times(points: int, multiplier: float) -> int:
    return math.floor(points * multiplier + 0.5)


@dataclass
class _History:
    """What the rules remember, per advocate (all keys start with the advocate id)."""

    last_event: dict[str, datetime] = field(default_factory=dict)
    items_shared: set[tuple[str, str]] = field(default_factory=set)
    last_counted_share: dict[tuple[str, str, str], datetime] = field(default_factory=dict)
    # advocate -> (last local day with a counted share, consecutive days ending there)
    run: dict[str, tuple[date, int]] = field(default_factory=dict)
    last_counted_click: dict[tuple[str, str, str], datetime] = field(default_factory=dict)
    early: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # item -> advocates
    lesson_events: set[str] = field(default_factory=set)
    lessons: set[tuple[str, str]] = field(default_factory=set)  # (advocate, lesson)


def expected(
    events: Iterable[tuple[str, bytes, object]], campaigns: list[Campaign], rules: Rules = Rules()
) -> Reference:
    """The reference of a history of (topic, key, ShareMade | EngagementObserved | LessonCompleted)."""
    by_id = {c.campaign_id: c for c in campaigns}
    seen = _History()
    ref = Reference()
    for _topic, _key, msg in events:
        if isinstance(msg, LessonCompleted):
            _lesson(seen, msg, rules, ref)
            continue
        if isinstance(msg, ShareMade):
            advocate, at, awards = (
                msg.share.advocate_id,
                msg.occurred_at.ToDatetime(tzinfo=UTC),
                _share(seen, msg, rules),
            )
        else:
            assert isinstance(msg, EngagementObserved)
            advocate, at = msg.advocate.advocate_id, msg.occurred_at.ToDatetime(tzinfo=UTC)
            awards = _engagement(seen, msg, rules)
        assert seen.last_event.setdefault(advocate, at) <= at, f"{advocate}: events out of time order"
        seen.last_event[advocate] = at
        campaign = by_id.get(msg.campaign_id)
        multiplier = campaign.multiplier if campaign and campaign.starts_at <= at < campaign.ends_at else 1.0
        day = local_day(at, msg.advocate.timezone).isoformat()
        for entry_id, rule, points in awards:
            ref.entries[entry_id] = Entry(advocate, day, rule, times(points, multiplier), msg.campaign_id)
    raw: dict[tuple[str, str], int] = defaultdict(int)
    lessons: dict[tuple[str, str], int] = defaultdict(int)
    for e in ref.entries.values():
        (lessons if e.rule == LESSON else raw)[(e.advocate_id, e.day)] += e.points
    ref.capped_rules_by_day = {k: min(v, rules.daily_cap) if rules.daily_cap else v for k, v in raw.items()}
    ref.capped_days = sum(1 for k, v in raw.items() if v > ref.capped_rules_by_day[k])
    ref.by_day = {k: ref.capped_rules_by_day.get(k, 0) + lessons.get(k, 0) for k in raw.keys() | lessons.keys()}
    for advocate, _lesson_id in seen.lessons:
        ref.lessons_completed[advocate] = ref.lessons_completed.get(advocate, 0) + 1
    return ref


def _lesson(seen: _History, msg: LessonCompleted, rules: Rules, ref: Reference) -> None:
    """A lesson's first completion by its advocate: one entry, outside the cap, without campaign."""
    if msg.event_id in seen.lesson_events:
        return  # the same event again: already counted at its first place
    seen.lesson_events.add(msg.event_id)
    advocate, at = msg.advocate.advocate_id, msg.occurred_at.ToDatetime(tzinfo=UTC)
    assert seen.last_event.setdefault(advocate, at) <= at, f"{advocate}: events out of time order"
    seen.last_event[advocate] = at
    if (advocate, msg.lesson_id) in seen.lessons:
        return  # completed before, under another event id
    seen.lessons.add((advocate, msg.lesson_id))
    day = local_day(at, msg.advocate.timezone).isoformat()
    ref.entries[f"{msg.event_id}:{LESSON}"] = Entry(advocate, day, LESSON, rules.lesson, "")


def _share(seen: _History, msg: ShareMade, rules: Rules) -> list[tuple[str, str, int]]:
    """(entry id, rule, points before the multiplier) of one share, early-sharer bonus included."""
    advocate, item = msg.share.advocate_id, msg.share.content_id
    at = msg.occurred_at.ToDatetime(tzinfo=UTC)
    awards = _early_sharer(seen, msg, rules)
    key = (advocate, item, Network.Name(msg.share.network))
    last = seen.last_counted_share.get(key)
    if last is not None and at - last < rules.duplicate_window:
        return [(f"{msg.event_id}:duplicate_share", "duplicate_share", 0), *awards]
    seen.last_counted_share[key] = at
    own = msg.share.own_post
    bonuses = [
        ("own_post", rules.share if rules.own_post is None else rules.own_post) if own else ("share", rules.share)
    ]
    if (advocate, item) not in seen.items_shared:
        seen.items_shared.add((advocate, item))
        bonuses.append(("first_share", rules.first_share))
    if msg.personal_wording and not own:
        bonuses.append(("personal_wording", rules.personal_wording))
    day = local_day(at, msg.advocate.timezone)
    last_day, run = seen.run.get(advocate, (date.min, 0))
    if day != last_day:
        run = run + 1 if day - last_day == timedelta(days=1) else 1
        seen.run[advocate] = (day, run)
        if min(run, rules.streak_memory_days or run) % rules.streak_days == 0:
            bonuses.append(("streak", rules.streak))
    # A zero-point share is still recorded; a zero bonus is not an entry.
    return [(f"{msg.event_id}:{r}", r, p) for r, p in bonuses if p or r in ("share", "own_post")] + awards


def _early_sharer(seen: _History, msg: ShareMade, rules: Rules) -> list[tuple[str, str, int]]:
    if msg.share.own_post or not msg.HasField("content_published_at"):
        return []
    ranked = seen.early[msg.share.content_id]
    since = msg.occurred_at.ToDatetime(tzinfo=UTC) - msg.content_published_at.ToDatetime(tzinfo=UTC)
    advocate = msg.share.advocate_id
    if advocate in ranked or len(ranked) >= rules.early_sharers or not timedelta(0) <= since <= rules.early_window:
        return []
    ranked.append(advocate)
    return [(f"{msg.event_id}:early_sharer", "early_sharer", rules.early_sharer)] if rules.early_sharer else []


def _engagement(seen: _History, msg: EngagementObserved, rules: Rules) -> list[tuple[str, str, int]]:
    kind = EngagementKind.Name(msg.kind).removeprefix("ENGAGEMENT_KIND_").lower()
    per_unit = {"click": rules.click, "reaction": rules.reaction, "comment": rules.comment, "reshare": rules.reshare}
    if kind not in per_unit:
        return []
    units = max(msg.count, 1)
    if kind == "click":
        if msg.is_bot or msg.is_self:
            return []
        if msg.actor_fingerprint:
            at = msg.occurred_at.ToDatetime(tzinfo=UTC)
            key = (msg.advocate.advocate_id, msg.share_id, msg.actor_fingerprint)
            last = seen.last_counted_click.get(key)
            if last is not None and at - last < rules.click_window:
                return []
            seen.last_counted_click[key] = at
            units = 1
    points = per_unit[kind] * units
    return [(f"{msg.event_id}:{kind}", kind, points)] if points else []


# ---------------------------------------------------------------- leaderboards

WEEK, MONTH, QUARTER, ALL_TIME = "week", "month", "quarter", "all_time"


def period(kind: str, day: date) -> tuple[str, str] | None:
    """[first, last] ISO days of the calendar period containing `day` (weeks start on Monday);
    None for all time."""
    if kind == ALL_TIME:
        return None
    if kind == WEEK:
        monday = day - timedelta(days=day.weekday())
        return monday.isoformat(), (monday + timedelta(days=6)).isoformat()
    months = {MONTH: 1, QUARTER: 3}[kind]
    first_month = day.month - (day.month - 1) % months
    first = date(day.year, first_month, 1)
    after = first_month + months  # the next period's first month, 13 = January of next year
    following = date(day.year + (after - 1) // 12, (after - 1) % 12 + 1, 1)
    return first.isoformat(), (following - timedelta(days=1)).isoformat()


def board(
    ref: Reference,
    bounds: tuple[str, str] | None,
    keep: Callable[[str, str], bool] = lambda advocate, day: True,
    campaign: bool = False,
) -> dict[str, int]:
    """Points per advocate within the period, of the (advocate, day)s `keep` accepts; no zeros. A
    campaign board counts only the rules a campaign can carry (lessons have none)."""
    totals: dict[str, int] = defaultdict(int)
    for (advocate, day), points in (ref.capped_rules_by_day if campaign else ref.by_day).items():
        if (bounds is None or bounds[0] <= day <= bounds[1]) and keep(advocate, day):
            totals[advocate] += points
    return {a: p for a, p in totals.items() if p}


def teams_per_active_advocate(points: dict[str, int], team_of: dict[str, str]) -> list[tuple[str, int, int, float]]:
    """(team, points, active advocates, points per active advocate), best first: an active advocate
    earned points in the period; ties by points, then by name."""
    total: dict[str, int] = defaultdict(int)
    active: dict[str, int] = defaultdict(int)
    for advocate, team in team_of.items():
        total[team] += points.get(advocate, 0)
        active[team] += points.get(advocate, 0) > 0
    rows = [(t, total[t], active[t], total[t] / active[t] if active[t] else float(total[t])) for t in total]
    return sorted(rows, key=lambda r: (-r[3], -r[1], r[0]))
