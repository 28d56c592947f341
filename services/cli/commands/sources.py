"""Feed sources: RSS / Atom feeds that create content by themselves."""

from __future__ import annotations

from collections.abc import Iterable

import typer
from advocacy.content.v1 import content_pb2
from rich.table import Table

from services.cli.commands.content import AUDIENCE_LANG, CAMPAIGN, LANGUAGE, TEAM, TOPIC
from services.cli.context import State, handled, list_command, state
from services.cli.output import (
    emit_json,
    out,
    table,
    when,
)

sources_app = typer.Typer(no_args_is_help=True, help="Admin: RSS / Atom feeds that create content by themselves.")


def source_rows(sources: Iterable[content_pb2.FeedSource]) -> Table:
    return table(
        "feed sources",
        ["id", "url", "every", "mode", "state", "items", "last poll", "next poll", "failures", "last error"],
        (
            [
                f.source_id,
                f.url,
                f"{f.poll_interval_seconds}s",
                "publish" if f.defaults.publish_directly else "review",
                "paused" if f.paused else "active",
                f.status.items_created,
                when(f.status.last_poll_at),
                when(f.status.next_poll_at),
                f.status.consecutive_failures,
                f.status.last_error,
            ]
            for f in sources
        ),
    )


def show_source(s: State, source: content_pb2.FeedSource) -> None:
    if s.json:
        emit_json(source)
    else:
        out.print(source_rows([source]))


@sources_app.command("add")
@handled
def sources_add(
    ctx: typer.Context,
    url: str = typer.Argument(..., help="The RSS or Atom feed's URL."),
    every: int = typer.Option(0, "--every", help="Poll interval in seconds (0 = the service's default)."),
    publish: bool = typer.Option(False, "--publish/--review", help="Publish new entries at once, or review them."),
    topic: list[str] = TOPIC,
    campaign: str = CAMPAIGN,
    team: list[str] = TEAM,
    audience_language: list[str] = AUDIENCE_LANG,
    language: str = LANGUAGE,
) -> None:
    """Register a feed; each new entry becomes an item (published or in review)."""
    s = state(ctx)
    defaults = content_pb2.SourceDefaults(
        topics=topic,
        language=language,
        campaign_id=campaign,
        audience=content_pb2.Audience(teams=team, languages=audience_language),
        publish_directly=publish,
    )
    source = content_pb2.FeedSource(url=url, poll_interval_seconds=every, defaults=defaults)
    show_source(s, s.clients.content.CreateSource(content_pb2.CreateSourceRequest(source=source)))


list_command(
    sources_app,
    "Feed sources by id with what their last poll saw (items created, last error, next poll).",
    lambda clients, size, t: clients.content.ListSources(content_pb2.ListSourcesRequest(page_size=size, page_token=t)),
    "sources",
    source_rows,
)


@sources_app.command("pause")
@handled
def sources_pause(
    ctx: typer.Context,
    source_id: str,
    resume: bool = typer.Option(False, "--resume", help="Resume a paused source (polled when next due)."),
) -> None:
    """Stop polling a source (or resume it with --resume)."""
    s = state(ctx)
    request = content_pb2.PauseSourceRequest(source_id=source_id, paused=not resume)
    show_source(s, s.clients.content.PauseSource(request))


@sources_app.command("delete")
@handled
def sources_delete(ctx: typer.Context, source_id: str) -> None:
    """Remove a source; the items it created stay."""
    s = state(ctx)
    s.clients.content.DeleteSource(content_pb2.DeleteSourceRequest(source_id=source_id))
    if s.json:
        emit_json({"deleted": source_id})
    else:
        out.print(f"deleted source {source_id}")
