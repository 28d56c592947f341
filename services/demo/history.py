"""The demo company's past (issue 23): about four months of history, as a migration from a previous
tool would bring it, so cohorts, days to first share and retention have something to show.

- Most advocates were enrolled over the past months, the keener ones earlier; the rest (about one
  in five) join now, the current month's cohort.
- Archive items were published over those months, each visible for some weeks.
- Each advocate shares from a while after enrolling, most in their first month and less after
  (a monthly decay), and some stop altogether; trained advocates share more (their activity is
  higher, services/demo/training.py); about one share in eight is an own post.

Pure and deterministic: the same company, the same advocates' enrolment times and the same seed
give the same history, and every share has an idempotency key from (advocate, its number), so a
re-run of the seed imports nothing twice. Times are planned from the seeding time, but shares
from each advocate's *stored* first enrolment, so a later re-run finds the same shares."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.demo.company import HEADLINES, TOPICS, DemoAdvocate, DemoCompany

# How far back the history reaches, and the share of advocates with a past enrolment.
HISTORY_DAYS = 122
HISTORIC_SHARE = 0.8
# No history in the last day: imported shares are then older than notify's 24 h news window.
QUIET_DAYS = 1
ARCHIVE_ITEMS = 14
ARCHIVE_VISIBLE_DAYS = (21, 45)
MONTH = timedelta(days=30)
# Expected shares in an advocate's first month: a little for everyone, the rest by keenness
# (KEEN_MONTHLY per advocate of the company, shared out by activity).
BASE_MONTHLY = 1.2
KEEN_MONTHLY = 2.0
MONTHLY_DECAY = 0.55
# Each month after the first, this share of the still active stop sharing.
MONTHLY_STOP = 0.18
NEVER_SHARE = 0.25
OWN_POST_SHARE = 0.12
PERSONAL_WORDING = 0.4


@dataclass(frozen=True)
class ArchiveItem:
    import_key: str
    title: str
    url: str
    topic: str
    published_at: datetime
    expires_at: datetime
    suggested: dict[str, str]  # network -> suggested text
    content_id: str = ""  # once imported


@dataclass(frozen=True)
class PastShare:
    idempotency_key: str
    advocate_id: str
    network: str  # without the NETWORK_ prefix
    shared_at: datetime
    message: str
    content_id: str = ""  # the archive item's (once imported); empty: an own post
    own_post_url: str = ""


def _rng(company_seed: int, *parts: object) -> random.Random:
    # Apart from the company's own draws, so the company stays the same with or without history.
    return random.Random("|".join(map(str, ("history", company_seed, *parts))))


def archive(company_seed: int, now: datetime) -> list[ArchiveItem]:
    """Items published over the history, oldest first, each visible for a few weeks."""
    rng = _rng(company_seed, "archive")
    items = []
    span = HISTORY_DAYS - QUIET_DAYS - 7
    for j in range(ARCHIVE_ITEMS):
        topic = TOPICS[(j * 4) % len(TOPICS)]
        title = f"{HEADLINES[topic][j % 2]} (from our archive)"
        published = now - timedelta(days=HISTORY_DAYS + 5 - span * j / (ARCHIVE_ITEMS - 1), hours=rng.uniform(0, 8))
        items.append(
            ArchiveItem(
                import_key=f"northwind-archive-{j:03d}",
                title=title,
                url=f"https://northwind.example/archive/{j:03d}-{topic}",
                topic=topic,
                published_at=published,
                expires_at=published + timedelta(days=rng.randint(*ARCHIVE_VISIBLE_DAYS)),
                suggested={"LINKEDIN": f"{title} — still proud of this.", "X": f"{title} #{topic}"},
            )
        )
    return items


def enrolment_times(company: DemoCompany, company_seed: int, now: datetime) -> dict[str, datetime]:
    """Advocate id -> past first enrolment, for the advocates with one (keener ones earlier)."""
    rng = _rng(company_seed, "enrolments")
    by_keenness = sorted(company.advocates, key=lambda a: (-a.activity, a.advocate_id))
    historic = by_keenness[: round(len(by_keenness) * HISTORIC_SHARE)]
    times = {}
    for rank, a in enumerate(historic):
        u = rank / max(len(historic), 1)  # 0: the keenest
        days = 2 + (HISTORY_DAYS - 2) * (1 - u) ** 1.3 * rng.uniform(0.7, 1.0)
        times[a.advocate_id] = now - timedelta(days=days, minutes=rng.randint(0, 600))
    return times


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: fine for the small means here."""
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _times(rng: random.Random, rate: float, keenness: float, enrolled_at: datetime, until: datetime) -> list[datetime]:
    """When an advocate shared (`rate`: expected shares in their first month; `keenness` 0..1): from
    a first delay on, monthly counts decaying, until they stop."""
    if rng.random() < NEVER_SHARE * (1 - keenness):
        return []
    start = enrolled_at + timedelta(days=rng.expovariate(1 / (2 + 12 * (1 - keenness))))
    times: list[datetime] = []
    month = 0
    while start + month * MONTH < until:
        if month and rng.random() < MONTHLY_STOP:
            break
        count = _poisson(rng, rate * MONTHLY_DECAY**month) + (1 if month == 0 else 0)
        times += [
            start + month * MONTH + timedelta(seconds=rng.uniform(0, MONTH.total_seconds())) for _ in range(count)
        ]
        month += 1
    return sorted(t for t in times if t < until)


def shares(
    company: DemoCompany, company_seed: int, enrolled: dict[str, datetime], items: list[ArchiveItem], now: datetime
) -> list[PastShare]:
    """Every past share of the advocates in `enrolled` (id -> stored first enrolment), by time."""
    until = now - timedelta(days=QUIET_DAYS)
    total = sum(a.activity for a in company.advocates) or 1.0
    top = max((a.activity for a in company.advocates), default=1.0)
    out: list[PastShare] = []
    for a in company.advocates:
        if a.advocate_id not in enrolled:
            continue
        rate = BASE_MONTHLY + KEEN_MONTHLY * len(company.advocates) * a.activity / total
        times = _times(
            _rng(company_seed, "times", a.advocate_id), rate, a.activity / top, enrolled[a.advocate_id], until
        )
        # Each share draws apart: a later run (more months to draw) plans the same share n.
        out += [_share(_rng(company_seed, "share", a.advocate_id, n), a, n, at, items) for n, at in enumerate(times)]
    return sorted(out, key=lambda s: (s.shared_at, s.advocate_id))


def _share(rng: random.Random, a: DemoAdvocate, n: int, at: datetime, items: list[ArchiveItem]) -> PastShare:
    net = rng.choice(sorted(a.networks))
    key = f"history-{n:04d}"
    live = [i for i in items if i.published_at <= at < i.expires_at]
    liked = [i for i in live if i.topic in a.interests]
    if not live or rng.random() < OWN_POST_SHARE:
        topic = rng.choice(a.interests)
        return PastShare(
            key,
            a.advocate_id,
            net,
            at,
            f"A look back at our work on {topic}.",
            own_post_url=f"https://{a.advocate_id}.blog.example/posts/{key}",
        )
    item = rng.choice(liked if liked and rng.random() < 0.7 else live)
    personal = rng.random() < PERSONAL_WORDING or net not in item.suggested
    message = f"Proud of this one: {item.title}" if personal else item.suggested[net]
    return PastShare(key, a.advocate_id, net, at, message, content_id=item.content_id)
