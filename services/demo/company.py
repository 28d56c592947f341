"""The demo company as data: advocates in teams with leaders, networks with heavy-tailed audience
sizes, interests, languages, locations and timezones; content items across campaigns, some
scheduled, some expiring. Pure and deterministic: the same seed gives the same company."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from services.demo.training import TRAINED_ACTIVITY, trained_advocates

TEAMS = ("sales", "engineering", "marketing", "support", "people", "finance", "product", "operations")
# (location, language, timezone, weight)
LOCATIONS = (
    ("Helsinki", "fi", "Europe/Helsinki", 4),
    ("Berlin", "de", "Europe/Berlin", 4),
    ("London", "en", "Europe/London", 3),
    ("New York", "en", "America/New_York", 3),
    ("Madrid", "es", "Europe/Madrid", 2),
    ("Paris", "fr", "Europe/Paris", 2),
    ("Singapore", "en", "Asia/Singapore", 1),
)
TOPICS = ("sustainability", "ai", "hiring", "product", "events", "customers", "culture", "engineering", "finance")
FIRST = (
    "Aino Ben Carla Dmitri Elif Farah Gustav Hanna Ivo Jonas Kaisa Liam Maija Noah Olga Pekka Quinn Rosa Sami Tuuli "
    "Ulla Ville Wen Xavier Yara Zoe Amir Bea Chen Dana Emil Freja Goran Hugo Ines Jana Kofi Lena Marta Nils"
).split()
LAST = (
    "Virtanen Schmidt Garcia Ivanova Yilmaz Khan Lindqvist Korhonen Novak Weber Mäkinen O'Brien Laine Dubois Rossi "
    "Tanaka Nieminen Fischer Santos Koskinen Müller Haddad Lehtonen Moreau Kowalski Jensen Okafor Silva Heikkinen Wang"
).split()
# Network, share of advocates connected, median audience, log-normal sigma (heavy tail).
NETWORKS = (
    ("LINKEDIN", 0.92, 450, 1.1),
    ("X", 0.38, 220, 1.6),
    ("FACEBOOK", 0.30, 260, 0.9),
    ("INSTAGRAM", 0.22, 380, 1.5),
    ("XING", 0.12, 160, 0.8),
)
# Followers of the company's own channels: the amplification ratio's denominator.
COMPANY_CHANNELS = {"LINKEDIN": 18000, "X": 9000, "FACEBOOK": 6000, "INSTAGRAM": 5000, "XING": 1500}
CAMPAIGNS = (
    ("spring-launch", "Spring launch", 1.5),
    ("we-are-hiring", "We are hiring", 1.2),
    ("green-week", "Sustainability week", 2.0),
    ("customer-stories", "Customer stories", 1.0),
    ("ai-summit", "AI summit", 1.0),
)
HEADLINES = {
    "sustainability": ("Our plant now runs on 100% renewable power", "How we cut packaging waste by 40%"),
    "ai": ("What we learned shipping AI to 2,000 customers", "Our AI assistant is now generally available"),
    "hiring": ("We are hiring 60 engineers in Helsinki and Berlin", "Meet the team behind our graduate programme"),
    "product": ("Introducing the new dashboard", "Release notes: offline mode is here"),
    "events": ("Join us at the AI summit in Berlin", "Recap: our customer day in London"),
    "customers": ("How a hospital saved 1,200 hours a year", "A retailer's story: from pilot to 300 stores"),
    "culture": ("Why we moved to a four-day focus week", "Volunteering day: 400 trees planted"),
    "engineering": ("How we run Kafka on two cores", "Postmortem: the day our queue stood still"),
    "finance": ("Q3 results: growth in every region", "Our first sustainability-linked loan"),
}


@dataclass(frozen=True)
class DemoAdvocate:
    advocate_id: str
    display_name: str
    team: str
    location: str
    language: str
    timezone: str
    role: str
    leader: bool
    interests: tuple[str, ...]
    networks: dict[str, int]  # network name (no prefix) -> audience size
    # Relative propensity to share (Zipf over a shuffled rank; most advocates share a little).
    activity: float


@dataclass(frozen=True)
class DemoItem:
    key: str  # stable identity within the company (titles repeat across seeds, keys do not)
    title: str
    url: str
    summary: str
    topics: tuple[str, ...]
    language: str
    campaign_id: str
    teams: tuple[str, ...]  # audience; empty = everyone
    languages: tuple[str, ...]
    suggested: dict[str, str]  # network -> suggested text
    publish_in: timedelta | None  # scheduled: publish this long after seeding
    expires_in: timedelta | None  # expiring: this long after seeding


@dataclass(frozen=True)
class DemoCompany:
    name: str
    advocates: list[DemoAdvocate]
    items: list[DemoItem]
    campaigns: tuple[tuple[str, str, float], ...] = CAMPAIGNS
    company_channels: dict[str, int] = field(default_factory=lambda: dict(COMPANY_CHANNELS))
    # Advocates who complete the training lessons (services/demo/training.py).
    trained: frozenset[str] = frozenset()
    # The seed it was generated from: its history (services/demo/history.py) draws from it too.
    seed: int = 42

    @property
    def teams(self) -> list[str]:
        return sorted({a.team for a in self.advocates})


def _audience(rng: random.Random, median: int, sigma: float, leader: bool) -> int:
    size = median * math.exp(rng.gauss(0.0, sigma))
    if leader:
        size *= 3.0  # leaders have larger networks
    return max(12, min(int(size), 250_000))


def generate(
    seed: int = 42, advocates: int = 300, teams: int = 8, items: int = 40, name: str = "Northwind"
) -> DemoCompany:
    rng = random.Random(seed)
    team_names = TEAMS[: max(1, min(teams, len(TEAMS)))]
    # Advocates first, then items: the draws' order keeps a seed's company the same.
    people = _advocates(rng, advocates, team_names)
    content = _items(rng, items, team_names)
    trained = trained_advocates([a.advocate_id for a in sorted(people, key=lambda a: -a.activity)], seed)
    people = [replace(a, activity=a.activity * TRAINED_ACTIVITY) if a.advocate_id in trained else a for a in people]
    return DemoCompany(name=name, advocates=people, items=content, trained=trained, seed=seed)


def _advocates(rng: random.Random, advocates: int, team_names: tuple[str, ...]) -> list[DemoAdvocate]:
    people: list[DemoAdvocate] = []
    ranks = list(range(1, advocates + 1))
    rng.shuffle(ranks)
    locations = [loc for loc in LOCATIONS for _ in range(loc[3])]
    for i in range(advocates):
        team = team_names[i % len(team_names)]
        leader = i < len(team_names)  # the first member of every team leads it
        location, language, tz, _ = rng.choice(locations)
        networks = {n: _audience(rng, med, sig, leader) for n, share, med, sig in NETWORKS if rng.random() < share}
        if not networks:
            networks = {"LINKEDIN": _audience(rng, 450, 1.1, leader)}
        first, last = FIRST[i % len(FIRST)], LAST[(i * 7 + i // len(FIRST)) % len(LAST)]
        people.append(
            DemoAdvocate(
                advocate_id=f"demo-{i:04d}",
                display_name=f"{first} {last}",
                team=team,
                location=location,
                language=language,
                timezone=tz,
                role="leader" if leader else rng.choice(("individual", "individual", "manager", "specialist")),
                leader=leader,
                interests=tuple(sorted(rng.sample(TOPICS, rng.randint(1, 3)))),
                networks=networks,
                # Zipf (s = 1.1): the top few advocates share most; leaders are a bit keener.
                activity=(1.0 / ranks[i] ** 1.1) * (3.0 if leader else 1.0),
            )
        )
    return people


def _items(rng: random.Random, items: int, team_names: tuple[str, ...]) -> list[DemoItem]:
    content: list[DemoItem] = []
    for j in range(items):
        topic = TOPICS[j % len(TOPICS)]
        title = HEADLINES[topic][(j // len(TOPICS)) % 2]
        if j >= 2 * len(TOPICS):
            title = f"{title} (part {j // (2 * len(TOPICS)) + 1})"
        campaign = CAMPAIGNS[j % len(CAMPAIGNS)][0] if j % 4 != 3 else ""
        extra = rng.sample([t for t in TOPICS if t != topic], rng.randint(0, 1))
        teams_audience = (rng.choice(team_names),) if j % 10 == 7 else ()
        languages_audience = ("de",) if j % 13 == 5 else ()
        publish_in = timedelta(seconds=60 + 45 * (j % 5)) if j % 8 == 6 else None  # 5 scheduled items
        expires_in = timedelta(minutes=6 + 3 * (j % 4)) if j % 8 == 2 else None  # 5 expiring items
        content.append(
            DemoItem(
                key=f"item-{j:03d}",
                title=title,
                url=f"https://northwind.example/news/{j:03d}-{topic}",
                summary=f"{title}. Read the full story on our newsroom.",
                topics=(topic, *extra),
                language="de" if languages_audience else "en",
                campaign_id=campaign,
                teams=teams_audience,
                languages=languages_audience,
                suggested={
                    "LINKEDIN": f"{title} — proud to be part of this.",
                    "X": f"{title} #{topic}",
                    "FACEBOOK": f"Have a look: {title}",
                },
                publish_in=publish_in,
                expires_in=expires_in,
            )
        )
    return content


def targets(item: DemoItem, advocate: DemoAdvocate) -> bool:
    """Whether the item's audience includes the advocate (the content service decides; the
    driver uses this to mostly pick shares the service will accept)."""
    return (not item.teams or advocate.team in item.teams) and (
        not item.languages or advocate.language in item.languages
    )


def now_plus(start: datetime, delta: timedelta | None) -> datetime | None:
    return start + delta if delta is not None else None
