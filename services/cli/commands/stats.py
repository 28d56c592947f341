"""Analytics: stats of an item, team, campaign or the program, top content, comments, CSV export."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import typer
from advocacy.analytics.v1 import analytics_pb2
from google.protobuf.message import Message
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.cli.context import State, UsageError, handled, parse_time, state
from services.cli.output import (
    ALL_PAGES,
    PAGE_TOKEN,
    collect,
    emit_json,
    enum_name,
    err,
    more_pages,
    out,
    page_size_option,
    table,
    when,
)
from services.common.events import to_timestamp

stats_app = typer.Typer(no_args_is_help=True, help="Reach, engagement and EMV of an item, team, campaign, program.")

GRANULARITIES = {
    "all": analytics_pb2.GRANULARITY_ALL_TIME,
    "day": analytics_pb2.GRANULARITY_DAY,
    "hour": analytics_pb2.GRANULARITY_HOUR,
}
GRANULARITY = typer.Option("all", "--granularity", help="all, day or hour")


def _opt(msg: Message, field: str, fmt: str = "{:.1%}") -> str:
    return fmt.format(getattr(msg, field)) if msg.HasField(field) else ""


def show_series(s: State, series: analytics_pb2.StatsSeries, title: str) -> None:
    if s.json:
        emit_json(series)
        return
    out.print(
        table(
            title,
            [
                "window",
                "shares",
                "sharers",
                "potential reach",
                "impressions",
                "clicks",
                "reactions",
                "comments",
                "engagements",
                "eng. rate",
                f"EMV ({series.currency}, rate card v{series.rate_card_version})",
                "adoption",
                "share rate",
            ],
            (
                [
                    when(p.window_start) or "all time",
                    p.shares,
                    p.distinct_sharers,
                    f"{p.potential_reach:,}",
                    f"{p.impressions_reported:,}",
                    p.unique_clicks,
                    p.reactions,
                    p.comments,
                    p.engagements,
                    _opt(p, "engagement_rate", "{:.2%}"),
                    f"{p.earned_media_value:,.2f}",
                    _opt(p, "adoption"),
                    _opt(p, "share_rate"),
                ]
                for p in series.points
            ),
        )
    )


def stats_of(ctx: typer.Context, dimension: int, key: str, granularity: str, title: str) -> None:
    s = state(ctx)
    if granularity not in GRANULARITIES:
        raise UsageError("--granularity: all, day or hour")
    series = s.clients.analytics.GetStats(
        analytics_pb2.GetStatsRequest(dimension=dimension, key=key, granularity=GRANULARITIES[granularity])
    )
    show_series(s, series, title)


@stats_app.command("item")
@handled
def stats_item(ctx: typer.Context, content_id: str, granularity: str = GRANULARITY) -> None:
    """Stats of one content item."""
    stats_of(ctx, analytics_pb2.DIMENSION_CONTENT, content_id, granularity, f"item {content_id}")


@stats_app.command("team")
@handled
def stats_team(ctx: typer.Context, team: str, granularity: str = GRANULARITY) -> None:
    """Stats of one team."""
    stats_of(ctx, analytics_pb2.DIMENSION_TEAM, team, granularity, f"team {team}")


@stats_app.command("campaign")
@handled
def stats_campaign(ctx: typer.Context, campaign_id: str, granularity: str = GRANULARITY) -> None:
    """Stats of one campaign."""
    stats_of(ctx, analytics_pb2.DIMENSION_CAMPAIGN, campaign_id, granularity, f"campaign {campaign_id}")


TOP_METRICS = {enum_name(analytics_pb2.TopMetric, v, "TOP_METRIC_"): v for v in analytics_pb2.TopMetric.values() if v}


@stats_app.command("top")
@handled
def stats_top(
    ctx: typer.Context,
    metric: str = typer.Option("engagements", "--metric", help=", ".join(TOP_METRICS)),
    page_size: int = page_size_option(10, "per page (at most 100)"),
    page_token: str = PAGE_TOKEN,
    every_page: bool = ALL_PAGES,
) -> None:
    """Content ranked by a figure (all time)."""
    s = state(ctx)
    if metric not in TOP_METRICS:
        raise UsageError(f"--metric one of {', '.join(TOP_METRICS)}")
    entries, token = collect(
        lambda t: s.clients.analytics.TopContent(
            analytics_pb2.TopContentRequest(metric=TOP_METRICS[metric], page_size=page_size, page_token=t)
        ),
        "entries",
        page_token,
        every_page,
    )
    if s.json:
        emit_json(entries)
    else:
        columns = ["item", "title", "shares", "reach", "engagements", "EMV"]
        rows = (
            [
                e.content_id,
                e.title,
                e.stats.shares,
                f"{e.stats.potential_reach:,}",
                e.stats.engagements,
                f"{e.stats.earned_media_value:,.2f}",
            ]
            for e in entries
        )
        out.print(table(f"top content by {metric}", columns, rows))
    more_pages(token)


@handled
def comments(
    ctx: typer.Context,
    content_id: str,
    author: str = typer.Option(..., "--as", help="The item's author (only they may read its comments)."),
    page_size: int = page_size_option(100, "per page (at most 1000)"),
    page_token: str = PAGE_TOKEN,
    every_page: bool = ALL_PAGES,
) -> None:
    """Customer comments on an item's shares, oldest first."""
    s = state(ctx)
    found, token = collect(
        lambda t: s.clients.analytics.ListComments(
            analytics_pb2.ListCommentsRequest(
                content_id=content_id, requester_id=author, page_size=page_size, page_token=t
            )
        ),
        "comments",
        page_token,
        every_page,
    )
    if s.json:
        emit_json(found)
    else:
        rows = ([when(c.occurred_at), c.advocate_id, c.network, c.text] for c in found)
        out.print(table(f"comments on {content_id}", ["when", "advocate", "network", "comment"], rows))
    more_pages(token)


@stats_app.command("program")
@handled
def stats_program(ctx: typer.Context) -> None:
    """The whole program: adoption, amplification, leader participation, totals."""
    s = state(ctx)
    o = s.clients.analytics.GetProgramOverview(analytics_pb2.GetProgramOverviewRequest())
    if s.json:
        emit_json(o)
        return
    t = o.totals
    rows = [
        ("shares", f"{t.shares:,}"),
        ("potential reach", f"{t.potential_reach:,}"),
        ("impressions (reported)", f"{t.impressions_reported:,}"),
        ("unique clicks", f"{t.unique_clicks:,}"),
        ("engagements", f"{t.engagements:,}"),
        ("earned media value", f"{t.earned_media_value:,.2f} {o.currency} (rate card v{o.rate_card_version})"),
        ("adoption", f"{_opt(o, 'adoption')} ({o.active_advocates}/{o.enrolled_advocates})"),
        ("amplification vs company channels", _opt(o, "amplification_ratio", "{:.2f}x")),
        ("leader participation", f"{_opt(o, 'leader_participation')} ({o.active_leaders}/{o.enrolled_leaders})"),
        ("own posts' share of the reach", _opt(o, "own_post_reach_share")),
    ]
    out.print(table("program", ["figure", "value"], rows))
    origins = (("company items", o.company_items), ("own posts", o.own_posts))
    out.print(
        table(
            "company items and own posts",
            ["origin", "shares", "potential reach", "unique clicks", "engagements", f"EMV ({o.currency})"],
            (
                [name, *(f"{n:,}" for n in (p.shares, p.potential_reach, p.unique_clicks, p.engagements)), emv]
                for name, p in origins
                for emv in [f"{p.earned_media_value:,.2f}"]
            ),
        )
    )


@stats_app.command("origin")
@handled
def stats_origin(ctx: typer.Context, origin: str, granularity: str = GRANULARITY) -> None:
    """Stats of company items ("company") or advocates' own posts ("own")."""
    stats_of(ctx, analytics_pb2.DIMENSION_ORIGIN, origin, granularity, f"origin {origin}")


DIMENSIONS = {enum_name(analytics_pb2.Dimension, v, "DIMENSION_"): v for v in analytics_pb2.Dimension.values() if v}


@handled
def export(
    ctx: typer.Context,
    dimension: str = typer.Argument(..., help=", ".join(DIMENSIONS)),
    key: str = typer.Argument("", help="Item id, team, campaign, advocate or network (empty for program)."),
    granularity: str = typer.Option("day", "--granularity", help="all, day or hour"),
    start: str = typer.Option("", "--start", help="From (ISO 8601, UTC if no offset); default: the first event."),
    end: str = typer.Option("", "--end", help="Until, exclusive (ISO 8601); default: the last event."),
    page_size: int = typer.Option(168, "--page-size", min=1, max=1000, help="Hour or day windows per request."),
    output: Path | None = typer.Option(None, "--out", "-o", help="File to write (default: stdout)."),
) -> None:
    """Export a stats series as CSV, page by page (every page is written as it arrives)."""
    s = state(ctx)
    if dimension not in DIMENSIONS or granularity not in GRANULARITIES:
        raise UsageError(f"dimension one of {', '.join(DIMENSIONS)}; --granularity all, day or hour")
    request = analytics_pb2.GetStatsRequest(
        dimension=DIMENSIONS[dimension], key=key, granularity=GRANULARITIES[granularity], page_size=page_size
    )
    for field, text in (("start", start), ("end", end)):
        if at := parse_time(text):
            getattr(request, field).CopyFrom(to_timestamp(at))
    if output is None:
        for reply in export_pages(s, request, lambda total, done: None):
            sys.stdout.write(reply.csv)
        return
    rows, filename = 0, ""
    with (
        output.open("w", newline="") as file,
        Progress(
            TextColumn(f"exporting {dimension} {key}".strip()),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("windows"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar,
    ):
        task = bar.add_task("export", total=None)
        for reply in export_pages(s, request, lambda total, done: bar.update(task, total=total, completed=done)):
            file.write(reply.csv)
            rows += reply.csv.count("\n")
            filename = filename or reply.filename
    rows = max(rows - 1, 0)  # the header
    if s.json:
        emit_json({"file": str(output), "rows": rows, "filename": filename})
    else:
        out.print(f"wrote {rows} rows to {output}")


def export_pages(
    s: State, request: analytics_pb2.GetStatsRequest, progress: Callable[[int, int], None]
) -> Iterable[analytics_pb2.CsvExport]:
    """Every page of an export, reporting (total windows, windows done) after each."""
    done = 0
    while True:
        reply = s.clients.analytics.ExportStatsCsv(request)
        total = max(reply.total_windows, 1)  # ALL_TIME and an empty series: one step
        done = min(done + request.page_size, total) if reply.next_page_token else total
        progress(total, done)
        yield reply
        if not reply.next_page_token:
            return
        request.page_token = reply.next_page_token
