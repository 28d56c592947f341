"""Who is told what, and when: pure rules over what the service knows of advocates, items and awards.

Every planned notification has a deterministic id derived from what caused it, so planning the same
cause twice (a redelivered event, a restart) plans the same id, which delivery sends at most once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from services.notify.domain.notification import Kind
from services.notify.domain.preferences import DigestFrequency, zone


@dataclass(frozen=True)
class Advocate:
    advocate_id: str
    display_name: str = ""
    team: str = ""
    location: str = ""
    language: str = "en"
    role: str = ""
    leader: bool = False
    timezone: str = "UTC"
    interests: frozenset[str] = frozenset()
    enrolled: bool = True


@dataclass(frozen=True)
class Audience:
    teams: frozenset[str] = frozenset()
    locations: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Item:
    content_id: str
    title: str
    url: str = ""
    summary: str = ""
    topics: frozenset[str] = frozenset()
    language: str = ""
    audience: Audience = field(default_factory=Audience)
    published_at: datetime | None = None


@dataclass(frozen=True)
class Award:
    entry_id: str
    advocate_id: str
    points: int
    rule: str
    occurred_at: datetime
    local_day: str = ""
    units: int = 0
    content_id: str = ""


@dataclass(frozen=True)
class ShareFact:
    advocate_id: str
    content_id: str
    audience: int
    occurred_at: datetime


@dataclass(frozen=True)
class Planned:
    notification_id: str
    kind: Kind
    advocate_id: str
    due_at: datetime
    data: Mapping[str, object] = field(default_factory=dict)


CLICK_RULE = "click"


def base_language(tag: str) -> str:
    return tag.split("-")[0].split("_")[0].lower() if tag else ""


def in_audience(advocate: Advocate, audience: Audience) -> bool:
    """An empty dimension means everyone; languages compare by base language (en-GB is en)."""
    languages = {base_language(x) for x in audience.languages}
    return (
        (not audience.teams or advocate.team in audience.teams)
        and (not audience.locations or advocate.location in audience.locations)
        and (not languages or base_language(advocate.language) in languages)
        and (not audience.roles or advocate.role in audience.roles)
    )


def interested(advocate: Advocate, item: Item) -> bool:
    """No interests on the profile means every topic; an item without topics suits everyone."""
    return not advocate.interests or not item.topics or bool(advocate.interests & item.topics)


def language_compatible(advocate: Advocate, item: Item) -> bool:
    """An item in another language than the advocate's is still offered when its audience names the
    advocate's language (the program chose to show it to them); else only the same base language."""
    if not item.language:
        return True
    return base_language(item.language) == base_language(advocate.language) or (
        base_language(advocate.language) in {base_language(x) for x in item.audience.languages}
    )


def suits(advocate: Advocate, item: Item) -> bool:
    return (
        advocate.enrolled
        and in_audience(advocate, item.audience)
        and interested(advocate, item)
        and (language_compatible(advocate, item))
    )


def item_data(item: Item) -> dict[str, object]:
    return {"content_id": item.content_id, "title": item.title, "url": item.url, "summary": item.summary}


def plan_new_content(item: Item, advocates: Iterable[Advocate], now: datetime) -> list[Planned]:
    return [
        Planned(f"new:{item.content_id}:{a.advocate_id}", Kind.NEW_CONTENT, a.advocate_id, now, item_data(item))
        for a in advocates
        if suits(a, item)
    ]


def plan_leader_shared(
    leader: Advocate, item: Item, team: Iterable[Advocate], sharers: set[str], now: datetime
) -> list[Planned]:
    """The leader's teammates who may see the item and have not shared it; once per item per person
    whatever the number of leaders sharing it (the id names the item and the teammate only)."""
    data = {**item_data(item), "leader_id": leader.advocate_id, "leader_name": leader.display_name}
    return [
        Planned(f"leader:{item.content_id}:{a.advocate_id}", Kind.LEADER_SHARED, a.advocate_id, now, data)
        for a in team
        if a.advocate_id != leader.advocate_id
        and a.team == leader.team
        and a.advocate_id not in sharers
        and a.enrolled
        and in_audience(a, item.audience)
    ]


def window_start(at: datetime, window_seconds: int) -> datetime:
    epoch = int(at.timestamp())
    return datetime.fromtimestamp(epoch - epoch % window_seconds, tz=UTC)


def plan_thank_you(award: Award, window_seconds: int, grace_seconds: float) -> Planned | None:
    """One message per advocate per window, sent when the window closed (plus a grace for the
    window's stragglers); an award of 0 points does not call for one on its own."""
    if award.points <= 0:
        return None
    start = window_start(award.occurred_at, window_seconds)
    due = start + timedelta(seconds=window_seconds + grace_seconds)
    return Planned(
        f"thanks:{award.advocate_id}:{start.strftime('%Y%m%dT%H%M%SZ')}",
        Kind.THANK_YOU,
        award.advocate_id,
        due,
        {"window_start": start.isoformat(), "window_seconds": window_seconds},
    )


def thank_you_data(
    awards: Sequence[Award], shares: Sequence[ShareFact], titles: Mapping[str, str] | None = None
) -> dict[str, object]:
    """Points, the entries, the reach of the awarded shares and the clicks the window's awards counted."""
    contents = {a.content_id for a in awards if a.content_id}
    reach = sum(s.audience for s in shares if s.content_id in contents)
    titles = titles or {}
    return {
        "points": sum(a.points for a in awards),
        "entries": [
            {
                "rule": a.rule,
                "points": a.points,
                "content_id": a.content_id,
                "content_title": titles.get(a.content_id, ""),
            }
            for a in awards
        ],
        "reach": reach,
        "clicks": sum(a.units or 1 for a in awards if a.rule == CLICK_RULE),
    }


@dataclass(frozen=True)
class DigestPeriod:
    key: str  # local date (daily) or ISO week (weekly)
    start: datetime  # UTC, the previous digest's send time
    end: datetime  # UTC, this digest's send time


def digest_period(frequency: DigestFrequency, timezone: str, now: datetime, hour: int) -> DigestPeriod | None:
    """The digest due at `now` for an advocate in `timezone`: daily at `hour` local time, weekly on
    Monday at `hour`; None before today's (this week's) send time or when digests are off."""
    if frequency is DigestFrequency.OFF:
        return None
    tz = zone(timezone)
    local = now.astimezone(tz)
    day = local.date()
    if frequency is DigestFrequency.WEEKLY:
        day -= timedelta(days=day.weekday())
    send = datetime.combine(day, time(hour), tzinfo=tz)
    if local < send:
        return None
    step = timedelta(days=7 if frequency is DigestFrequency.WEEKLY else 1)
    previous = datetime.combine(day - step, time(hour), tzinfo=tz)
    return DigestPeriod(_period_key(frequency, day), previous.astimezone(UTC), send.astimezone(UTC))


def _period_key(frequency: DigestFrequency, day: date) -> str:
    if frequency is DigestFrequency.WEEKLY:
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return day.isoformat()


def digest_id(advocate_id: str, period: DigestPeriod) -> str:
    return f"digest:{advocate_id}:{period.key}"


def rank_of(advocate_id: str, totals: Mapping[str, int]) -> int:
    """1 + the advocates with more points (ties share a rank); advocates without points count too."""
    mine = totals.get(advocate_id, 0)
    return 1 + sum(1 for points in totals.values() if points > mine)


def digest_data(
    advocate: Advocate,
    period: DigestPeriod,
    items: Iterable[Item],
    totals: Mapping[str, int],
    shares: Sequence[ShareFact],
) -> dict[str, object]:
    new = [
        item_data(i)
        for i in sorted(items, key=lambda i: i.published_at or period.start)
        if i.published_at is not None and period.start <= i.published_at < period.end and suits(advocate, i)
    ]
    return {
        "period_key": period.key,
        "new_items": new,
        "points": totals.get(advocate.advocate_id, 0),
        "rank": rank_of(advocate.advocate_id, totals),
        "advocates_ranked": max(len(totals), 1),
        "reach": sum(s.audience for s in shares if period.start <= s.occurred_at < period.end),
        "shares": sum(1 for s in shares if period.start <= s.occurred_at < period.end),
    }
