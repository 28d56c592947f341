"""The demo part of `make run`: seed the demo company through the APIs, start the activity
driver, and show the live view (a compact line every few seconds when stdout is not a terminal)
until Ctrl-C or a service dies."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time

from advocacy.content.v1 import content_pb2
from rich.console import Console
from rich.live import Live

from services.clients import Clients, ServiceError
from services.common.auth import ADMIN
from services.common.topics import NOTIFICATION_SENT
from services.demo.activity import ActivityDriver, DriverStats, Rates
from services.demo.company import TOPICS, DemoCompany, generate
from services.demo.newsroom import Newsroom
from services.demo.seed import SeedResult, seed
from services.demo.view import NotificationFeed, Snapshot, ThankYouFeed, compact_line, render, take_snapshot
from services.platform.supervisor import SERVICE_NAMES, Platform

COMPACT_EVERY_SECONDS = 5.0


def say(line: str) -> None:
    with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP): stopping goes on
        print(line, flush=True)


# The newsroom's source is polled every minute (the content service's shortest interval by default).
NEWSROOM_POLL_SECONDS = 60


def register_newsroom(clients: Clients, feed_url: str, poll_seconds: int = NEWSROOM_POLL_SECONDS) -> str:
    """The newsroom's feed source, created once (a restarted demo finds it and resumes it)."""
    for source in clients.content.ListSources(content_pb2.ListSourcesRequest()).sources:
        if source.url == feed_url:
            if source.paused:
                clients.content.PauseSource(content_pb2.PauseSourceRequest(source_id=source.source_id, paused=False))
            return str(source.source_id)
    created = clients.content.CreateSource(
        content_pb2.CreateSourceRequest(
            source=content_pb2.FeedSource(
                url=feed_url,
                poll_interval_seconds=poll_seconds,
                defaults=content_pb2.SourceDefaults(topics=list(TOPICS[:3]), publish_directly=True),
            )
        )
    )
    return str(created.source_id)


class ViewMoved:
    """When the view first showed more shares than at its first look, in seconds from `started`."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.baseline: int | None = None
        self.first_moved: float | None = None

    def saw(self, shares: int) -> None:
        if self.baseline is None:
            self.baseline = shares
        elif self.first_moved is None and shares > self.baseline:
            self.first_moved = time.monotonic() - self.started


class View:
    """The live view on a terminal, else a compact line every COMPACT_EVERY_SECONDS."""

    def __init__(
        self,
        console: Console,
        company: DemoCompany,
        thanks: ThankYouFeed,
        notes: NotificationFeed,
        stats: DriverStats,
        started: float,
    ) -> None:
        self.console = console
        self.live: Live | None = None
        self.title = (
            f"Advocacy · demo company {company.name} · {len(company.advocates)} advocates · {len(company.items)} items"
        )
        self.names = {a.advocate_id: a.display_name for a in company.advocates}
        self.thanks, self.notes, self.stats, self.started = thanks, notes, stats, started
        self.last_line = 0.0

    def start(self) -> None:
        if self.console.is_terminal:
            self.live = Live(console=self.console, auto_refresh=False, transient=False)
            self.live.start()

    def show(self, snap: Snapshot) -> None:
        if self.live is not None:
            self.live.update(render(snap, self.title, self.names, self.thanks, self.stats, self.notes), refresh=True)
        elif time.monotonic() - self.last_line >= COMPACT_EVERY_SECONDS:
            self.last_line = time.monotonic()
            say(compact_line(snap, time.monotonic() - self.started, self.stats))

    def stop(self) -> None:
        if self.live is not None:
            with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
                self.live.stop()


def seed_in_background(clients: Clients, company: DemoCompany, seeded: SeedResult, t0: float) -> list[str]:
    """Seeds `company` on a daemon thread; the list returned receives the error if seeding fails."""
    seed_error: list[str] = []

    def run() -> None:
        try:
            seed(clients, company, result=seeded)
        except ServiceError as exc:
            seed_error.append(str(exc))
            print(f"error: seeding the demo company failed: {exc}", file=sys.stderr)
            return
        print(
            f"demo company {company.name}: {len(company.advocates)} advocates "
            f"({seeded.advocates_enrolled} enrolled now), {len(seeded.items)} items "
            f"({seeded.items_created} created, {seeded.items_reused} reused), {len(company.trained)} trained "
            f"({seeded.lessons_completed} lessons completed now) seeded in {time.monotonic() - t0:.1f} s; "
            f"history imported: {seeded.advocates_imported} advocates enrolled in past months, "
            f"{seeded.history_items_imported} archive items, {seeded.history_shares_imported} past shares",
            flush=True,
        )

    threading.Thread(target=run, name="demo-seed", daemon=True).start()
    return seed_error


def follow(
    platform: Platform,
    clients: Clients,
    seeded: SeedResult,
    seed_error: list[str],
    view: View,
    moved: ViewMoved,
    stop: threading.Event,
    refresh: float,
) -> None:
    """Shows the services' figures every `refresh` seconds until `stop`, a dead service or a failed seeding."""
    while not stop.is_set():
        if dead := platform.exited():
            print(f"error: a service exited unexpectedly: {dead}; stopping the rest", file=sys.stderr)
            break
        if seed_error:
            break
        snap = take_snapshot(clients, with_sources=True)
        if not seeded.done.is_set():
            snap.note = f"seeding {seeded.stage} {seeded.stage_done}/{seeded.stage_total}"
        if snap.overview is not None:
            moved.saw(snap.overview.totals.shares)
        view.show(snap)
        stop.wait(refresh)


def run_demo(
    platform: Platform,
    kafka_bootstrap: str,
    points_topic: str,
    args: argparse.Namespace,
    stop: threading.Event,
    started: float,
) -> bool:
    """Runs until `stop` is set; False when the demo could not run (the reason is printed)."""
    console = Console()
    company = generate(seed=args.seed, advocates=args.advocates, items=args.items)
    # The demo acts for the company's admins and on behalf of its advocates: an admin token.
    clients = Clients.from_env(
        token=platform.token(ADMIN, "demo"), **{name: platform.address(name) for name in SERVICE_NAMES}
    )
    t0 = time.monotonic()
    seeded = SeedResult()
    newsroom = Newsroom("127.0.0.1", args.newsroom_port, args.newsroom_every).start()
    register_newsroom(clients, newsroom.feed_url)
    say(f"demo newsroom: {newsroom.feed_url}, a new story every {args.newsroom_every:g} s (a feed source publishes it)")
    seed_error = seed_in_background(clients, company, seeded, t0)
    driver = ActivityDriver(clients, company, seeded, Rates.from_env())
    driver_thread = driver.start_thread(stop)
    thanks = ThankYouFeed(kafka_bootstrap, points_topic).start()
    # What notify sent (the topic channel every advocate has by default): the last few.
    notes = NotificationFeed(kafka_bootstrap, NOTIFICATION_SENT.name, keep=4).start()
    moved = ViewMoved(started)
    view = View(console, company, thanks, notes, driver.stats, started)
    try:
        view.start()
        follow(platform, clients, seeded, seed_error, view, moved, stop, args.refresh)
    finally:
        stop.set()
        view.stop()
        thanks.stop()
        notes.stop()
        newsroom.stop()
        driver_thread.join(timeout=10)
        clients.close()
    s = driver.stats
    say(
        f"demo: {s.shares} shares, {s.clicks} clicks, {s.engagement_reports} engagement reports in "
        f"{time.monotonic() - s.started:.0f} s"
        + (f"; the view first moved {moved.first_moved:.1f} s after start" if moved.first_moved is not None else "")
    )
    return not seed_error
