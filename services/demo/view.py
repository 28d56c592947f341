"""The live terminal view of `make run` (and `advocacy watch`): every figure is read from the
running services (rewards and analytics gRPC APIs), the thank-you lines from the
`points-awarded` topic and the last notifications from `notification-sent`; nothing is computed
from what the demo driver did."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Self

from advocacy.analytics.v1 import analytics_pb2
from advocacy.content.v1 import content_pb2
from advocacy.notify.v1 import notify_pb2
from advocacy.rewards.v1 import rewards_pb2
from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from services.clients import Clients, ServiceError
from services.demo.activity import DriverStats

# Enrolment months the live view's cohort table shows (the current one and those before).
COHORT_MONTHS = 6


@dataclass
class Snapshot:
    taken: float = field(default_factory=time.monotonic)
    leaderboard: list[rewards_pb2.LeaderboardRow] = field(default_factory=list)
    top: list[analytics_pb2.TopContentEntry] = field(default_factory=list)
    overview: analytics_pb2.ProgramOverview | None = None
    health: analytics_pb2.ProgramHealth | None = None
    errors: list[str] = field(default_factory=list)
    note: str = ""  # e.g. seeding progress
    sources: list[content_pb2.FeedSource] = field(default_factory=list)


def take_snapshot(clients: Clients, limit: int = 8, with_sources: bool = False) -> Snapshot:
    """With `with_sources` (an admin's view) also the feed sources' status."""
    snap = Snapshot()
    if with_sources:
        try:
            snap.sources = list(clients.content.ListSources(content_pb2.ListSourcesRequest()).sources)
        except ServiceError as exc:
            snap.errors.append(str(exc))
    try:
        snap.leaderboard = list(
            clients.rewards.GetLeaderboard(
                rewards_pb2.GetLeaderboardRequest(
                    board=rewards_pb2.BOARD_GLOBAL, period=rewards_pb2.PERIOD_ALL_TIME, limit=limit
                )
            ).rows
        )
    except ServiceError as exc:
        snap.errors.append(str(exc))
    try:
        snap.top = list(
            clients.analytics.TopContent(
                analytics_pb2.TopContentRequest(metric=analytics_pb2.TOP_METRIC_ENGAGEMENTS, limit=5)
            ).entries
        )
        snap.overview = clients.analytics.GetProgramOverview(analytics_pb2.GetProgramOverviewRequest())
    except ServiceError as exc:
        snap.errors.append(str(exc))
    try:
        now = datetime.now(UTC)
        index = now.year * 12 + now.month - 1 - (COHORT_MONTHS - 1)  # months since year 0
        first = f"{index // 12:04d}-{index % 12 + 1:02d}"
        request = analytics_pb2.GetProgramHealthRequest(from_month=first, to_month=f"{now:%Y-%m}")
        snap.health = clients.analytics.GetProgramHealth(request)
    except ServiceError as exc:
        snap.errors.append(str(exc))
    return snap


class TopicFeed:
    """The latest lines made from a topic's new messages (read from its end), in a thread."""

    name = "feed"

    def __init__(self, bootstrap: str, topic: str, keep: int = 6) -> None:
        self.lines: deque[str] = deque(maxlen=keep)
        self.received = 0
        self._bootstrap, self._topic = bootstrap, topic
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-feed", daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def line(self, value: bytes) -> str | None:
        """The line a message shows, or None to skip it."""
        raise NotImplementedError

    def _run(self) -> None:
        from kafka import KafkaConsumer, TopicPartition

        try:
            consumer = KafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False, group_id=None)
        except Exception as exc:  # the view still works without these lines
            self.lines.append(f"(no {self.name} feed: {exc})")
            return
        try:
            parts = consumer.partitions_for_topic(self._topic) or set()
            consumer.assign([TopicPartition(self._topic, p) for p in parts])
            consumer.seek_to_end()
            while not self._stop.is_set():
                for records in consumer.poll(timeout_ms=500).values():
                    for record in records:
                        self.received += 1
                        try:
                            text = self.line(record.value)
                        except Exception:
                            continue
                        if text:
                            self.lines.append(text)
        finally:
            consumer.close()


class ThankYouFeed(TopicFeed):
    """The latest thank-you lines, read from `points-awarded`."""

    name = "thank-you"

    def line(self, value: bytes) -> str | None:
        event = rewards_pb2.PointsAwarded.FromString(value)
        return event.thank_you if event.thank_you and event.entry.points > 0 else None


class NotificationFeed(TopicFeed):
    """The latest notifications the notify service sent, read from `notification-sent`."""

    name = "notification"

    def line(self, value: bytes) -> str | None:
        event = notify_pb2.NotificationSent.FromString(value)
        return f"{event.kind:<13} {event.advocate_id} [{event.language}]: {event.subject}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _opt(msg: object, name: str) -> float | None:
    return getattr(msg, name) if msg is not None and msg.HasField(name) else None  # type: ignore[attr-defined]


def render(
    snap: Snapshot,
    title: str,
    names: dict[str, str],
    thanks: ThankYouFeed | None = None,
    driver: DriverStats | None = None,
    notifications: NotificationFeed | None = None,
) -> RenderableType:
    grid = Table.grid(expand=True)
    grid.add_column(ratio=1)
    grid.add_column(ratio=1)
    grid.add_row(Panel(_program(snap.overview), title="Program", box=box.ROUNDED), _leaderboard(snap, names))
    parts: list[RenderableType] = [grid, _top_content(snap), _cohorts(snap.health)]
    if thanks is not None:
        lines = list(thanks.lines) or ["(waiting for the first points…)"]
        parts.append(Panel(Text("\n".join(lines)), title="Latest thank-yous (points-awarded)", box=box.ROUNDED))
    if notifications is not None:
        lines = list(notifications.lines) or ["(waiting for the first notification…)"]
        parts.append(Panel(Text("\n".join(lines)), title="Latest notifications (notification-sent)", box=box.ROUNDED))
    parts.append(_footer(snap, driver))
    return Panel(Group(*parts), title=title, box=box.HEAVY)


def _leaderboard(snap: Snapshot, names: dict[str, str]) -> Table:
    board = Table(title="Leaderboard (all time)", box=box.SIMPLE_HEAD, expand=True)
    board.add_column("#", justify="right")
    board.add_column("advocate")
    board.add_column("points", justify="right")
    for row in snap.leaderboard:
        board.add_row(str(row.rank), names.get(row.key, row.key), f"{row.points:,}")
    return board


def _top_content(snap: Snapshot) -> Table:
    top = Table(title="Top content (engagements)", box=box.SIMPLE_HEAD, expand=True)
    top.add_column("item")
    top.add_column("shares", justify="right")
    top.add_column("reach", justify="right")
    top.add_column("clicks", justify="right")
    top.add_column("eng.", justify="right")
    for e in snap.top:
        top.add_row(
            e.title[:38] or e.content_id,
            str(e.stats.shares),
            f"{e.stats.potential_reach:,}",
            str(e.stats.unique_clicks),
            str(e.stats.engagements),
        )
    return top


def _cohorts(h: analytics_pb2.ProgramHealth | None) -> Table:
    """Compact retention triangle: per enrolment month, the share of its advocates who shared in
    that month and each month since (issue 23)."""
    table = Table(title="Cohorts (retention by enrolment month)", box=box.SIMPLE_HEAD, expand=True)
    for name in ("cohort", "enrolled", "shared", "median days", *(f"M+{k}" for k in range(COHORT_MONTHS))):
        table.add_column(name, justify="left" if name == "cohort" else "right")
    for c in h.cohorts if h is not None else []:
        median = str(c.median_days_to_first_share) if c.HasField("median_days_to_first_share") else "—"
        cells = [_pct(r) for r in c.retention][:COHORT_MONTHS]
        cells += [""] * (COHORT_MONTHS - len(cells))
        table.add_row(c.month, str(c.enrolled), str(c.shared), median, *cells)
    return table


def _program(o: analytics_pb2.ProgramOverview | None) -> Table:
    figures = Table.grid(padding=(0, 2))
    figures.add_column(style="bold")
    figures.add_column(justify="right")
    if o is None:
        figures.add_row("analytics", "waiting…")
        return figures
    t, cur = o.totals, o.currency or "EUR"
    amp = _opt(o, "amplification_ratio")
    rows = [
        ("shares", f"{t.shares:,}"),
        ("potential reach", f"{t.potential_reach:,}"),
        ("impressions (reported)", f"{t.impressions_reported:,}"),
        ("unique clicks", f"{t.unique_clicks:,}"),
        ("reactions / comments", f"{t.reactions:,} / {t.comments:,}"),
        ("earned media value", f"{t.earned_media_value:,.0f} {cur}"),
        ("adoption", f"{_pct(_opt(o, 'adoption'))} ({o.active_advocates}/{o.enrolled_advocates})"),
        ("amplification vs company", "—" if amp is None else f"{amp:.1f}x"),
        (
            "leader participation",
            f"{_pct(_opt(o, 'leader_participation'))} ({o.active_leaders}/{o.enrolled_leaders})",
        ),
    ]
    for k, v in rows:
        figures.add_row(k, v)
    return figures


def _footer(snap: Snapshot, driver: DriverStats | None) -> Text:
    footer = Text(style="dim")
    if driver is not None:
        footer.append(
            f"demo activity: {driver.shares} shares ({driver.per_second(driver.shares):.2f}/s), "
            f"{driver.clicks} link clicks ({driver.per_second(driver.clicks):.2f}/s, {driver.bot_clicks} by bots), "
            f"{driver.engagement_reports} engagement reports ({driver.per_second(driver.engagement_reports):.2f}/s)"
        )
        if driver.errors:
            footer.append(f"; {driver.errors} errors, last: {driver.last_error[:120]}", style="yellow")
        footer.append("\n")
    if snap.note:
        footer.append(snap.note + "\n", style="cyan")
    if snap.sources:
        footer.append(sources_line(snap.sources) + "\n", style="green")
    for err in snap.errors[:2]:
        footer.append(err[:200] + "\n", style="red")
    footer.append("Ctrl-C stops everything.")
    return footer


def sources_line(sources: list[content_pb2.FeedSource]) -> str:
    """Content arriving by itself: what the feed sources created, and how their last polls went."""
    created = sum(f.status.items_created for f in sources)
    failing = [f for f in sources if f.status.consecutive_failures]
    last = max((f.status.last_poll_at.ToDatetime() for f in sources if f.status.HasField("last_poll_at")), default=None)
    line = f"feed sources: {len(sources)}, {created} items created from feeds"
    if last is not None:
        line += f", last poll {last:%H:%M:%S} UTC"
    if failing:
        line += f"; {len(failing)} failing: {failing[0].status.last_error[:100]}"
    return line


def compact_line(snap: Snapshot, elapsed: float, driver: DriverStats | None = None) -> str:
    """One line for logs and non-terminal output."""
    o = snap.overview
    parts = [f"t={elapsed:.0f}s"]
    if driver is not None:
        parts.append(f"sent shares={driver.shares} clicks={driver.clicks} reports={driver.engagement_reports}")
    if o is not None:
        t = o.totals
        parts.append(
            f"analytics shares={t.shares} reach={t.potential_reach} clicks={t.unique_clicks} "
            f"engagements={t.engagements} emv={t.earned_media_value:.0f}{o.currency} "
            f"adoption={_pct(_opt(o, 'adoption'))} amplification={_opt(o, 'amplification_ratio') or 0:.2f}"
        )
    if snap.leaderboard:
        parts.append(f"leader={snap.leaderboard[0].key}:{snap.leaderboard[0].points}")
    if snap.note:
        parts.append(snap.note)
    if snap.sources:
        parts.append(sources_line(snap.sources))
    if snap.errors:
        parts.append(f"errors: {'; '.join(snap.errors)[:200]}")
    return " | ".join(parts)
