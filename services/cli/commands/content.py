"""Content: publish, schedule, list and archive items; advocates' suggestions and their review."""

from __future__ import annotations

from collections.abc import Iterable

import typer
from advocacy.content.v1 import content_pb2
from rich.table import Table

from services.cli.context import State, UsageError, handled, pairs, parse_network, parse_time, state
from services.cli.output import emit_json, enum_name, out, table, when
from services.common.events import to_timestamp

content_app = typer.Typer(no_args_is_help=True, help="Admin: publish, schedule and list content.")
suggestions_app = typer.Typer(no_args_is_help=True, help="Advocates suggest content; admins review it.")

STATUSES = {enum_name(content_pb2.ContentStatus, v, "CONTENT_STATUS_"): v for v in content_pb2.ContentStatus.values()}


def item_rows(items: Iterable[content_pb2.ContentItem]) -> Table:
    return table(
        "content",
        ["id", "status", "title", "campaign", "publish at", "expires at", "suggested by"],
        (
            [
                i.content_id,
                enum_name(content_pb2.ContentStatus, i.status, "CONTENT_STATUS_"),
                i.title,
                i.campaign_id,
                when(i.publish_at) or when(i.published_at),
                when(i.expires_at),
                i.suggested_by,
            ]
            for i in items
        ),
    )


def show_item(s: State, item: content_pb2.ContentItem) -> None:
    if s.json:
        emit_json(item)
    else:
        out.print(item_rows([item]))


def build_item(
    title: str,
    url: str,
    summary: str,
    topics: list[str],
    campaign: str,
    teams: list[str],
    languages: list[str],
    language: str,
    texts: list[str],
    publish_at: str | None,
    expires_at: str | None,
) -> content_pb2.ContentItem:
    item = content_pb2.ContentItem(
        title=title,
        url=url,
        summary=summary,
        topics=topics,
        campaign_id=campaign,
        language=language,
        audience=content_pb2.Audience(teams=teams, languages=languages),
        suggested_texts=[
            content_pb2.SuggestedText(network=parse_network(n), text=t) for n, t in pairs(texts, "--text")
        ],
    )
    if (at := parse_time(publish_at)) is not None:
        item.publish_at.CopyFrom(to_timestamp(at))
    if (until := parse_time(expires_at)) is not None:
        item.expires_at.CopyFrom(to_timestamp(until))
    return item


TITLE = typer.Option(..., "--title")
URL = typer.Option(..., "--url")
SUMMARY = typer.Option("", "--summary")
TOPIC = typer.Option([], "--topic", help="Repeatable.")
CAMPAIGN = typer.Option("", "--campaign")
TEAM = typer.Option([], "--team", help="Audience team (repeatable; none = everyone).")
AUDIENCE_LANG = typer.Option([], "--audience-language", help="Audience language (repeatable).")
LANGUAGE = typer.Option("en", "--language")
TEXT = typer.Option([], "--text", help="Suggested text per network: LINKEDIN='Proud of this!' (repeatable).")


@content_app.command("publish")
@handled
def content_publish(
    ctx: typer.Context,
    title: str = TITLE,
    url: str = URL,
    summary: str = SUMMARY,
    topic: list[str] = TOPIC,
    campaign: str = CAMPAIGN,
    team: list[str] = TEAM,
    audience_language: list[str] = AUDIENCE_LANG,
    language: str = LANGUAGE,
    text: list[str] = TEXT,
    publish_at: str | None = typer.Option(None, "--publish-at", help="Schedule: ISO time or +10m."),
    expires_at: str | None = typer.Option(None, "--expires-at", help="ISO time or +2d."),
    actor: str = typer.Option("admin", "--actor", help="Who acts (author and reviewer)."),
) -> None:
    """Create an item and walk it through review to publication (or schedule it with --publish-at)."""
    s = state(ctx)
    item = build_item(
        title, url, summary, topic, campaign, team, audience_language, language, text, publish_at, expires_at
    )
    item.author_id = actor
    created = s.clients.content.CreateContent(content_pb2.CreateContentRequest(item=item))
    for step in (s.clients.content.SubmitForReview, s.clients.content.Approve, s.clients.content.Publish):
        created = step(content_pb2.TransitionRequest(content_id=created.content_id, actor_id=actor))
    show_item(s, created)


@content_app.command("list")
@handled
def content_list(
    ctx: typer.Context,
    status: str = typer.Option("all", "--status", help="all, " + ", ".join(k for k in STATUSES if k != "unspecified")),
    limit: int = typer.Option(20, "--limit", min=1, max=1000),
) -> None:
    """List content, newest first."""
    s = state(ctx)
    code = 0 if status == "all" else STATUSES.get(status.lower())
    if code is None:
        raise UsageError(f"unknown status {status!r}")
    items: list[content_pb2.ContentItem] = []
    token = ""
    while len(items) < limit:
        page = s.clients.content.ListContent(
            content_pb2.ListContentRequest(status=code, page_size=min(100, limit - len(items)), page_token=token)
        )
        items.extend(page.items)
        token = page.next_page_token
        if not token:
            break
    if s.json:
        emit_json(items)
    else:
        out.print(item_rows(items))


@content_app.command("show")
@handled
def content_show(ctx: typer.Context, content_id: str) -> None:
    """One item."""
    s = state(ctx)
    show_item(s, s.clients.content.GetContent(content_pb2.GetContentRequest(content_id=content_id)))


@content_app.command("archive")
@handled
def content_archive(ctx: typer.Context, content_id: str, actor: str = typer.Option("admin", "--actor")) -> None:
    """Take an item out of circulation."""
    s = state(ctx)
    show_item(s, s.clients.content.Archive(content_pb2.TransitionRequest(content_id=content_id, actor_id=actor)))


# --- suggestions ----------------------------------------------------------------------------------


@suggestions_app.command("submit")
@handled
def suggestion_submit(
    ctx: typer.Context,
    advocate: str = typer.Option(..., "--as", envvar="ADVOCACY_ADVOCATE", help="Your advocate id."),
    title: str = typer.Option("", "--title", help="Omit to take title, summary and image from the page."),
    url: str = URL,
    summary: str = SUMMARY,
    topic: list[str] = TOPIC,
    text: list[str] = TEXT,
) -> None:
    """An advocate suggests an item; it waits for review."""
    s = state(ctx)
    item = build_item(title, url, summary, topic, "", [], [], "en", text, None, None)
    show_item(s, s.clients.content.SuggestContent(content_pb2.SuggestContentRequest(item=item, advocate_id=advocate)))


@suggestions_app.command("list")
@handled
def suggestion_list(ctx: typer.Context, limit: int = typer.Option(50, "--limit", min=1, max=1000)) -> None:
    """Suggestions waiting for review."""
    s = state(ctx)
    items: list[content_pb2.ContentItem] = []
    token = ""
    while len(items) < limit:
        page = s.clients.content.ListContent(
            content_pb2.ListContentRequest(status=content_pb2.CONTENT_STATUS_IN_REVIEW, page_size=100, page_token=token)
        )
        items.extend(i for i in page.items if i.suggested_by)
        token = page.next_page_token
        if not token:
            break
    items = items[:limit]
    if s.json:
        emit_json(items)
    else:
        out.print(item_rows(items))


@suggestions_app.command("approve")
@handled
def suggestion_approve(
    ctx: typer.Context,
    content_id: str,
    actor: str = typer.Option("admin", "--actor"),
    publish: bool = typer.Option(True, "--publish/--no-publish", help="Publish right after approving."),
) -> None:
    """Approve a suggestion (and publish it)."""
    s = state(ctx)
    request = content_pb2.TransitionRequest(content_id=content_id, actor_id=actor)
    item = s.clients.content.Approve(request)
    if publish:
        item = s.clients.content.Publish(request)
    show_item(s, item)


@suggestions_app.command("reject")
@handled
def suggestion_reject(
    ctx: typer.Context,
    content_id: str,
    reason: str = typer.Option(..., "--reason"),
    actor: str = typer.Option("admin", "--actor"),
) -> None:
    """Reject a suggestion with a reason."""
    s = state(ctx)
    request = content_pb2.TransitionRequest(content_id=content_id, actor_id=actor, reason=reason)
    show_item(s, s.clients.content.Reject(request))
