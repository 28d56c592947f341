"""The activity driver: advocates share, audiences click and react, over time, through the real
APIs. Also the platform's realistic load generator: rates are configurable (`Rates`, or
ADVOCACY_DEMO_* env vars) and `ActivityDriver.step(dt)` can be driven by any loop.

- Shares: an advocate is drawn by Zipf-like `activity` weights (a few share a lot, most a
  little, many never), then an item in their audience they have not shared yet, live now
  (scheduled items join when their publish time passes, expiring ones drop out).
- Clicks: real HTTP GETs of the share's tracked link (`/l/{code}`), redirects not followed,
  drawn in proportion to audience size with a decay over the share's age; each reader has its
  own user agent (so its own fingerprint); a few are crawlers, which the tracker must not count.
- Impressions, reactions, comments and reshares arrive as network-webhook reports through
  `RecordEngagement`, sized by audience.
"""

from __future__ import annotations

import http.client
import math
import os
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from advocacy.share.v1 import share_pb2

from services.clients import Clients, ServiceError
from services.demo.company import DemoAdvocate, DemoCompany, targets
from services.demo.seed import SeededItem, SeedResult, network

COMMENTS = (
    "Congratulations to the whole team!",
    "Is this available in Finland too?",
    "Great read, thanks for sharing.",
    "How do I apply?",
    "We saw the same in our company. Impressive numbers.",
    "Would love a demo of this.",
)
BOT_AGENTS = ("Googlebot/2.1 (+http://www.google.com/bot.html)", "LinkedInBot/1.0 (compatible; Mozilla/5.0)")


@dataclass(frozen=True)
class Rates:
    """Mean events per second (Poisson-like arrivals)."""

    shares_per_second: float = 1.0
    clicks_per_second: float = 3.0
    # Impression / reaction / comment / reshare reports per second (sent in one batch per tick).
    engagement_reports_per_second: float = 5.0
    bot_click_share: float = 0.05
    personal_wording_share: float = 0.4
    # Of the shares, the advocates' own posts (their own URL and words, no company item).
    own_post_share: float = 0.12
    # A share's clicks and engagement decay with this half-life (seconds of wall time).
    attention_half_life_seconds: float = 300.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, scale: float = 1.0) -> Rates:
        env = dict(os.environ) if env is None else env

        def value(name: str, default: float) -> float:
            return float(env.get(f"ADVOCACY_DEMO_{name.upper()}", default)) * scale

        base = cls()
        return cls(
            shares_per_second=value("shares_per_second", base.shares_per_second),
            clicks_per_second=value("clicks_per_second", base.clicks_per_second),
            engagement_reports_per_second=value("engagement_reports_per_second", base.engagement_reports_per_second),
        )


@dataclass
class LiveShare:
    share_id: str
    tracked_url: str
    audience: int
    advocate_id: str
    created: float  # monotonic


@dataclass
class DriverStats:
    started: float = field(default_factory=time.monotonic)
    shares: int = 0  # own posts included
    own_posts: int = 0
    share_refusals: int = 0  # the service said no (expired, not targeted): expected now and then
    clicks: int = 0
    bot_clicks: int = 0
    engagement_reports: int = 0
    errors: int = 0
    last_error: str = ""

    def per_second(self, count: int) -> float:
        return count / max(time.monotonic() - self.started, 1e-6)


class ActivityDriver:
    def __init__(
        self,
        clients: Clients,
        company: DemoCompany,
        seeded: SeedResult,
        rates: Rates | None = None,
        seed: int = 7,
        run_id: str | None = None,
    ) -> None:
        self.clients = clients
        self.company = company
        self.seeded = seeded
        self.items = seeded.items
        self.rates = rates or Rates()
        self.rng = random.Random(seed)
        # Idempotency keys and engagement ids are unique per driver run (a rerun is new activity).
        self.run_id = run_id or uuid.uuid4().hex[:8]
        self.stats = DriverStats()
        self.shares: list[LiveShare] = []
        self._shared: set[tuple[str, str, str]] = set()
        self._credit = {"share": 0.0, "click": 0.0, "engagement": 0.0}
        self._n = 0

    # -- arrivals -------------------------------------------------------------------------------------
    def _arrivals(self, kind: str, rate: float, dt: float) -> int:
        """Whole events due this tick; the fraction carries over (smooth, deterministic mean)."""
        self._credit[kind] += rate * dt * (0.5 + self.rng.random())
        count = int(self._credit[kind])
        self._credit[kind] -= count
        return count

    def _next_key(self, tag: str) -> str:
        self._n += 1
        return f"demo-{self.run_id}-{tag}{self._n}"

    def live_items(self, now: datetime | None = None) -> list[SeededItem]:
        now = now or datetime.now(UTC)
        return [
            s
            for s in self.items
            if (s.publish_at is None or s.publish_at <= now) and (s.expires_at is None or s.expires_at > now)
        ]

    def _attention(self, s: LiveShare, now: float) -> float:
        age = now - s.created
        return s.audience * math.pow(0.5, age / self.rates.attention_half_life_seconds)

    def _pick_share(self, now: float) -> LiveShare | None:
        if not self.shares:
            return None
        weights = [self._attention(s, now) for s in self.shares]
        if sum(weights) <= 0:
            return None
        return self.rng.choices(self.shares, weights=weights)[0]

    # -- one tick ------------------------------------------------------------------------------------
    def step(self, dt: float) -> None:
        live = self.live_items()
        for _ in range(self._arrivals("share", self.rates.shares_per_second, dt)):
            self._share(live)
        now = time.monotonic()
        for _ in range(self._arrivals("click", self.rates.clicks_per_second, dt)):
            if (target := self._pick_share(now)) is not None:
                self._click(target)
        reports = [
            r
            for _ in range(self._arrivals("engagement", self.rates.engagement_reports_per_second, dt))
            if (r := self._engagement(now)) is not None
        ]
        if reports:
            try:
                self.clients.share.RecordEngagement(share_pb2.RecordEngagementRequest(reports=reports))
                self.stats.engagement_reports += len(reports)
            except ServiceError as exc:
                self._error(exc)
        # Bounded memory over long runs: shares whose attention faded out are dropped.
        if len(self.shares) > 2000:
            self.shares = sorted(self.shares, key=lambda s: -self._attention(s, now))[:1000]

    def _share(self, live: list[SeededItem]) -> None:
        # Only advocates already enrolled (seeding may still be enrolling the long tail).
        enrolled = [a for a in self.company.advocates if a.advocate_id in self.seeded.enrolled]
        if not enrolled:
            return
        advocate: DemoAdvocate = self.rng.choices(enrolled, weights=[a.activity for a in enrolled])[0]
        if self.rng.random() < self.rates.own_post_share:
            self._own_post(advocate)
            return
        options = [
            (s, n)
            for s in live
            if targets(s.item, advocate)
            for n in advocate.networks
            if (advocate.advocate_id, s.content_id, n) not in self._shared
        ]
        if not options:
            return
        item, net = self.rng.choice(options)
        suggested = item.item.suggested.get(net, item.item.title)
        personal = self.rng.random() < self.rates.personal_wording_share
        message = f"{suggested} My take: this is why I love working here." if personal else suggested
        try:
            reply = self.clients.share.RecordShare(
                share_pb2.RecordShareRequest(
                    content_id=item.content_id,
                    advocate_id=advocate.advocate_id,
                    network=network(net),
                    message=message,
                    idempotency_key=self._next_key("s"),
                    sharer_client_ip=f"10.20.{self._ip_suffix(advocate.advocate_id)}",
                    sharer_user_agent=f"AdvocacyApp/1.0 ({advocate.advocate_id})",
                )
            )
        except ServiceError as exc:
            if exc.code.name in ("FAILED_PRECONDITION", "NOT_FOUND", "PERMISSION_DENIED", "ALREADY_EXISTS"):
                self.stats.share_refusals += 1
                self._shared.add((advocate.advocate_id, item.content_id, net))
            else:
                self._error(exc)
            return
        self._shared.add((advocate.advocate_id, item.content_id, net))
        self.stats.shares += 1
        self.shares.append(
            LiveShare(
                reply.share.share_id,
                reply.share.tracked_url,
                reply.share.audience_size,
                advocate.advocate_id,
                time.monotonic(),
            )
        )

    def _own_post(self, advocate: DemoAdvocate) -> None:
        """The advocate writes about their own work on one of their networks."""
        net = self.rng.choice(sorted(advocate.networks))
        key = self._next_key("o")
        topic = self.rng.choice(advocate.interests)
        try:
            reply = self.clients.share.RecordOwnPost(
                share_pb2.RecordOwnPostRequest(
                    advocate_id=advocate.advocate_id,
                    network=network(net),
                    url=f"https://{advocate.advocate_id}.blog.example/posts/{key}",
                    message=f"What I learned this week about {topic}, with the people I work with.",
                    idempotency_key=key,
                    sharer_client_ip=f"10.20.{self._ip_suffix(advocate.advocate_id)}",
                    sharer_user_agent=f"AdvocacyApp/1.0 ({advocate.advocate_id})",
                )
            )
        except ServiceError as exc:
            if exc.code.name in ("FAILED_PRECONDITION", "NOT_FOUND", "PERMISSION_DENIED"):
                self.stats.share_refusals += 1
            else:
                self._error(exc)
            return
        self.stats.shares += 1
        self.stats.own_posts += 1
        share = reply.share
        self.shares.append(
            LiveShare(share.share_id, share.tracked_url, share.audience_size, advocate.advocate_id, time.monotonic())
        )

    @staticmethod
    def _ip_suffix(advocate_id: str) -> str:
        n = sum(ord(c) * 31**i for i, c in enumerate(advocate_id)) % 62500
        return f"{n // 250}.{n % 250}"

    def _click(self, target: LiveShare) -> None:
        bot = self.rng.random() < self.rates.bot_click_share
        agent = (
            self.rng.choice(BOT_AGENTS)
            if bot
            else f"Mozilla/5.0 (X11; Linux x86_64) DemoReader/{self.rng.randrange(10**9)}"
        )
        url = urlsplit(target.tracked_url)
        try:
            conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80, timeout=5)
            try:
                conn.request("GET", url.path, headers={"User-Agent": agent})
                status = conn.getresponse().status
            finally:
                conn.close()
        except OSError as exc:
            self.stats.errors += 1
            self.stats.last_error = f"tracked link {target.tracked_url}: {exc}"
            return
        if status == 302:
            self.stats.clicks += 1
            self.stats.bot_clicks += bot
        else:
            self.stats.errors += 1
            self.stats.last_error = f"tracked link {target.tracked_url}: HTTP {status}"

    def _engagement(self, now: float) -> share_pb2.EngagementReport | None:
        target = self._pick_share(now)
        if target is None:
            return None
        roll = self.rng.random()
        report = share_pb2.EngagementReport(
            share_id=target.share_id,
            source=share_pb2.ENGAGEMENT_SOURCE_NETWORK_WEBHOOK,
            source_event_id=self._next_key("e"),
        )
        if roll < 0.5:
            report.kind = share_pb2.ENGAGEMENT_KIND_IMPRESSION
            report.count = max(1, int(target.audience * self.rng.uniform(0.01, 0.06)))
        elif roll < 0.85:
            report.kind = share_pb2.ENGAGEMENT_KIND_REACTION
            report.count = self.rng.randint(1, 3)
            report.actor_id = f"reader-{self.rng.randrange(10**6)}"
        elif roll < 0.96:
            report.kind = share_pb2.ENGAGEMENT_KIND_COMMENT
            report.count = 1
            report.comment_text = self.rng.choice(COMMENTS)
            report.actor_id = f"reader-{self.rng.randrange(10**6)}"
        else:
            report.kind = share_pb2.ENGAGEMENT_KIND_RESHARE
            report.count = 1
        return report

    def _error(self, exc: Exception) -> None:
        self.stats.errors += 1
        self.stats.last_error = str(exc)

    def run(self, stop: threading.Event, duration: float | None = None, tick: float = 0.5) -> DriverStats:
        """Steps until `stop` is set (or `duration` seconds passed), from when content is seeded."""
        while not self.seeded.content_ready.wait(0.2):
            if stop.is_set():
                return self.stats
        self.stats.started = time.monotonic()
        end = None if duration is None else time.monotonic() + duration
        last = time.monotonic()
        while not stop.is_set() and (end is None or time.monotonic() < end):
            now = time.monotonic()
            self.step(min(now - last, 2.0))  # a slow tick does not turn into a burst
            last = now
            stop.wait(max(0.0, tick - (time.monotonic() - now)))
        return self.stats

    def start_thread(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop,), name="demo-activity", daemon=True)
        thread.start()
        return thread
