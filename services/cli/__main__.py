"""`advocacy`: the command-line client of the Advocacy platform, over its gRPC APIs.

Addresses: --<service>-addr or ADVOCACY_<SERVICE>_ADDR (default: the `make run` ports). Token:
--token or ADVOCACY_TOKEN (sent as `authorization: Bearer …`). --json prints machine-readable
output. Exit codes: 0 ok, 1 refused by a service, 2 usage, 3 a service is unreachable, 4 no or
refused token.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import grpc
import typer
from advocacy.analytics.v1 import analytics_pb2
from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.content.v1 import content_pb2
from advocacy.notify.v1 import notify_pb2
from advocacy.rewards.v1 import rewards_pb2
from advocacy.share.v1 import share_pb2
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from google.protobuf.message import Message
from rich.console import Console
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from services.cli.replay import ReplayError, follow, reset_to_earliest
from services.clients import Clients, ServiceError
from services.common.events import from_timestamp, to_timestamp
from services.demo.activity import ActivityDriver, Rates
from services.demo.company import generate
from services.demo.seed import seed as seed_company
from services.demo.view import NotificationFeed, ThankYouFeed, compact_line, render, take_snapshot

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_enable=False)
content_app = typer.Typer(no_args_is_help=True, help="Admin: publish, schedule and list content.")
suggestions_app = typer.Typer(no_args_is_help=True, help="Advocates suggest content; admins review it.")
stats_app = typer.Typer(no_args_is_help=True, help="Reach, engagement and EMV of an item, team, campaign, program.")
catalog_app = typer.Typer(no_args_is_help=True, help="The rewards catalogue.")
demo_app = typer.Typer(no_args_is_help=True, help="The demo company: seed it, drive activity (load), watch.")
sources_app = typer.Typer(no_args_is_help=True, help="Admin: RSS / Atom feeds that create content by themselves.")
rules_app = typer.Typer(no_args_is_help=True, help="Admin: the point rules and badges in force (versioned data).")
rate_card_app = typer.Typer(no_args_is_help=True, help="Admin: the EMV rate card (versioned; figures name theirs).")
app.add_typer(content_app, name="content")
app.add_typer(suggestions_app, name="suggestions")
app.add_typer(stats_app, name="stats")
app.add_typer(catalog_app, name="catalog")
app.add_typer(demo_app, name="demo")
app.add_typer(sources_app, name="sources")
app.add_typer(rules_app, name="rules")
app.add_typer(rate_card_app, name="rate-card")

out = Console(soft_wrap=True)
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class State:
    clients: Clients
    json: bool


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    assert isinstance(obj, State)
    return obj


@app.callback()
def options(
    ctx: typer.Context,
    token: str | None = typer.Option(None, "--token", envvar="ADVOCACY_TOKEN", help="Bearer token sent on every call."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    content_addr: str | None = typer.Option(None, "--content-addr", envvar="ADVOCACY_CONTENT_ADDR"),
    share_addr: str | None = typer.Option(None, "--share-addr", envvar="ADVOCACY_SHARE_ADDR"),
    rewards_addr: str | None = typer.Option(None, "--rewards-addr", envvar="ADVOCACY_REWARDS_ADDR"),
    analytics_addr: str | None = typer.Option(None, "--analytics-addr", envvar="ADVOCACY_ANALYTICS_ADDR"),
    notify_addr: str | None = typer.Option(None, "--notify-addr", envvar="ADVOCACY_NOTIFY_ADDR"),
    timeout: float = typer.Option(10.0, "--timeout", help="Seconds per call."),
) -> None:
    clients = Clients.from_env(
        token=token or "",
        content=content_addr,
        share=share_addr,
        rewards=rewards_addr,
        analytics=analytics_addr,
        notify=notify_addr,
    )
    clients.timeout = timeout
    ctx.obj = State(clients, json_output)
    ctx.call_on_close(clients.close)


EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_AUTH = 1, 3, 4


def handled(fn: F) -> F:
    """Service errors become one clear line on stderr and an exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ServiceError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            if exc.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise typer.Exit(EXIT_UNREACHABLE) from None
            if exc.code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                raise typer.Exit(EXIT_AUTH) from None
            raise typer.Exit(EXIT_REFUSED) from None
        except ServiceErrorLine as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(EXIT_UNREACHABLE if "unavailable" in str(exc) else EXIT_REFUSED) from None
        except UsageError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


class UsageError(Exception):
    pass


class ServiceErrorLine(UsageError):
    """An already-explained service failure (e.g. from the live view's snapshot)."""


# --- output ---------------------------------------------------------------------------------------


def as_dict(msg: Message) -> dict[str, Any]:
    return MessageToDict(msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def emit_json(value: Any) -> None:
    if isinstance(value, Message):
        value = as_dict(value)
    elif isinstance(value, list):
        value = [as_dict(v) if isinstance(v, Message) else v for v in value]
    out.print_json(json.dumps(value, default=str))


# --- pages (google.aip.dev/158) -------------------------------------------------------------------

ALL_PAGES = typer.Option(False, "--all", help="Follow next_page_token to the last page.")
PAGE_TOKEN = typer.Option("", "--page-token", help="Continue from a previous page's next_page_token.")


def page_size_option(default: int, what: str = "per page") -> Any:
    return typer.Option(default, "--page-size", min=0, help=f"Elements {what} (0 = the service's default).")


def collect(fetch: Callable[[str], Any], field: str, page_token: str, every_page: bool) -> tuple[list[Any], str]:
    """The elements of one page from `page_token` (or of every page to the end with `every_page`),
    and the next page's token ("" at the end)."""
    items: list[Any] = []
    token = page_token
    while True:
        reply = fetch(token)
        items.extend(getattr(reply, field))
        token = reply.next_page_token
        if not token or not every_page:
            return items, token


def more_pages(token: str) -> None:
    """Tells where the next page starts (on stderr: --json output stays one JSON document)."""
    if token:
        err.print(f"next_page_token: {token}  (next page: --page-token {token}; every page: --all)", highlight=False)


def table(title: str, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> Table:
    t = Table(title=title)
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    return t


def when(ts: Any) -> str:
    return from_timestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts is not None and ts.ByteSize() else ""


def enum_name(enum: Any, value: int, prefix: str) -> str:
    return str(enum.Name(value)).removeprefix(prefix).lower()


def parse_network(name: str) -> int:
    try:
        return int(Network.Value("NETWORK_" + name.strip().upper()))
    except ValueError:
        raise UsageError(f"unknown network {name!r} (linkedin, x, facebook, xing, instagram)") from None


def parse_time(text: str | None) -> datetime | None:
    """ISO 8601 (UTC if no offset) or relative: +30s, +10m, +2h, +3d."""
    if not text:
        return None
    if m := re.fullmatch(r"\+(\d+)([smhd])", text.strip()):
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        return datetime.now(UTC) + timedelta(**{unit: int(m.group(1))})
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{text!r}: use ISO 8601 (2026-12-01T09:00) or +30m / +2h / +1d") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def pairs(values: list[str], what: str) -> list[tuple[str, str]]:
    result = []
    for v in values:
        key, sep, rest = v.partition("=")
        if not sep or not rest:
            raise UsageError(f"{what} {v!r}: expected NETWORK=VALUE")
        result.append((key, rest))
    return result


# --- content --------------------------------------------------------------------------------------

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


# --- feed sources ---------------------------------------------------------------------------------


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


@sources_app.command("list")
@handled
def sources_list(
    ctx: typer.Context,
    page_size: int = page_size_option(0),
    page_token: str = PAGE_TOKEN,
    every_page: bool = ALL_PAGES,
) -> None:
    """Feed sources by id with what their last poll saw (items created, last error, next poll)."""
    s = state(ctx)
    sources, token = collect(
        lambda t: s.clients.content.ListSources(content_pb2.ListSourcesRequest(page_size=page_size, page_token=t)),
        "sources",
        page_token,
        every_page,
    )
    if s.json:
        emit_json(sources)
    else:
        out.print(source_rows(sources))
    more_pages(token)


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


# --- advocates ------------------------------------------------------------------------------------

ADVOCATE = typer.Option(..., "--as", envvar="ADVOCACY_ADVOCATE", help="Advocate id (ADVOCACY_ADVOCATE).")


@app.command()
@handled
def enroll(
    ctx: typer.Context,
    advocate_id: str,
    name: str = typer.Option(..., "--name"),
    team: str = typer.Option("", "--team"),
    leader: bool = typer.Option(False, "--leader"),
    network: list[str] = typer.Option([], "--network", help="NETWORK=AUDIENCE, e.g. linkedin=1240 (repeatable)."),
    interest: list[str] = typer.Option([], "--interest"),
    language: str = typer.Option("en", "--language"),
    location: str = typer.Option("", "--location"),
    timezone: str = typer.Option("UTC", "--timezone"),
) -> None:
    """Enrol an advocate with their networks."""
    s = state(ctx)
    try:
        networks = [
            share_pb2.NetworkConnection(network=parse_network(n), audience_size=int(a))
            for n, a in pairs(network, "--network")
        ]
    except ValueError:
        raise UsageError("--network: the audience must be a whole number") from None
    advocate = share_pb2.Advocate(
        profile=AdvocateSnapshot(
            advocate_id=advocate_id,
            display_name=name,
            team=team,
            leader=leader,
            language=language,
            location=location,
            timezone=timezone,
        ),
        interests=interest,
        networks=networks,
    )
    reply = s.clients.share.EnrollAdvocate(share_pb2.EnrollAdvocateRequest(advocate=advocate))
    if s.json:
        emit_json(reply)
    else:
        nets = ", ".join(f"{enum_name(Network, c.network, 'NETWORK_')} {c.audience_size:,}" for c in reply.networks)
        out.print(f"enrolled {reply.profile.advocate_id} ({reply.profile.display_name}, {reply.profile.team}): {nets}")


@app.command()
@handled
def feed(
    ctx: typer.Context, advocate: str = ADVOCATE, limit: int = typer.Option(20, "--limit", min=1, max=100)
) -> None:
    """My feed: what I can share, best first."""
    s = state(ctx)
    reply = s.clients.content.ListFeed(content_pb2.ListFeedRequest(advocate_id=advocate, page_size=limit))
    if s.json:
        emit_json(list(reply.entries))
        return
    out.print(
        table(
            f"feed of {advocate}",
            ["id", "title", "topics", "matched", "shared", "score"],
            (
                [
                    e.item.content_id,
                    e.item.title,
                    ",".join(e.item.topics),
                    ",".join(e.matched_interests),
                    "yes" if e.already_shared else "",
                    f"{e.score:.2f}",
                ]
                for e in reply.entries
            ),
        )
    )


@app.command()
@handled
def share(
    ctx: typer.Context,
    content_id: str,
    advocate: str = ADVOCATE,
    network: str = typer.Option("linkedin", "--network"),
    message: str = typer.Option("", "--message", help="Your own words (default: the item's suggested text)."),
    key: str = typer.Option("", "--key", help="Idempotency key: a retry with the same key is the same share."),
) -> None:
    """Share an item to one of my networks; prints the tracked link."""
    s = state(ctx)
    net = parse_network(network)
    if not message:
        item = s.clients.content.GetContent(content_pb2.GetContentRequest(content_id=content_id))
        message = next((t.text for t in item.suggested_texts if t.network == net), item.title)
    reply = s.clients.share.RecordShare(
        share_pb2.RecordShareRequest(
            content_id=content_id,
            advocate_id=advocate,
            network=net,
            message=message,
            idempotency_key=key or f"cli-{advocate}-{content_id}-{network}-{int(time.time())}",
        )
    )
    if s.json:
        emit_json(reply)
    else:
        verb = "shared" if reply.created else "already shared (same key)"
        out.print(
            f"{verb}: {reply.share.share_id} to {reply.share.audience_size:,} people; link {reply.share.tracked_url}"
        )


# --- notifications --------------------------------------------------------------------------------


@app.command()
@handled
def notifications(
    ctx: typer.Context,
    advocate: str = ADVOCATE,
    opt_out: bool = typer.Option(False, "--opt-out", help="Turn every notification off (as the unsubscribe link)."),
) -> None:
    """My notification settings: channels, kinds, digest, quiet hours (--opt-out: everything off)."""
    s = state(ctx)
    if opt_out:
        reply = s.clients.notify.OptOut(notify_pb2.OptOutRequest(advocate_id=advocate))
    else:
        reply = s.clients.notify.GetPreferences(notify_pb2.GetPreferencesRequest(advocate_id=advocate))
    if s.json:
        emit_json(reply)
        return
    p = reply.preferences
    channels = ", ".join(
        enum_name(notify_pb2.Channel, c.channel, "CHANNEL_") + (f" {c.address}" if c.address else "")
        for c in p.channels
    )
    kinds = ", ".join(enum_name(notify_pb2.NotificationKind, k, "NOTIFICATION_KIND_") for k in p.kinds)
    quiet = f"{p.quiet_hours_start}-{p.quiet_hours_end}" if p.quiet_hours_start else "none"
    digest = enum_name(notify_pb2.DigestFrequency, p.digest_frequency, "DIGEST_FREQUENCY_")
    source = " (company defaults)" if reply.company_default else ""
    out.print(f"{advocate}{source}: {'OPTED OUT; ' if p.opted_out else ''}channels {channels or 'none'}")
    out.print(f"  kinds {kinds or 'none'}; digest {digest}; quiet hours {quiet}")


# --- rewards --------------------------------------------------------------------------------------


@app.command()
@handled
def points(ctx: typer.Context, advocate: str = ADVOCATE) -> None:
    """My points balance."""
    s = state(ctx)
    balance = s.clients.rewards.GetBalance(rewards_pb2.GetBalanceRequest(advocate_id=advocate, with_ledger_check=True))
    if s.json:
        emit_json(balance)
    else:
        out.print(f"{advocate}: {balance.points:,} points from {balance.entries} ledger entries")


@app.command()
@handled
def history(
    ctx: typer.Context,
    advocate: str = ADVOCATE,
    page_size: int = typer.Option(50, "--page-size", "--limit", min=1, max=500, help="Entries per page."),
    page_token: str = PAGE_TOKEN,
    every_page: bool = ALL_PAGES,
) -> None:
    """My points history (the ledger), newest first."""
    s = state(ctx)
    entries, token = collect(
        lambda t: s.clients.rewards.ListLedger(
            rewards_pb2.ListLedgerRequest(advocate_id=advocate, page_size=page_size, page_token=t)
        ),
        "entries",
        page_token,
        every_page,
    )
    if s.json:
        emit_json(entries)
        more_pages(token)
        return
    out.print(
        table(
            f"points history of {advocate}",
            ["when", "rule", "points", "capped", "content", "campaign"],
            (
                [when(e.occurred_at), e.rule, e.points, e.capped_points or "", e.content_id, e.campaign_id]
                for e in entries
            ),
        )
    )
    more_pages(token)


@app.command()
@handled
def badges(ctx: typer.Context, advocate: str = ADVOCATE) -> None:
    """My badges."""
    s = state(ctx)
    reply = s.clients.rewards.GetBadges(rewards_pb2.GetBadgesRequest(advocate_id=advocate))
    if s.json:
        emit_json(reply)
    else:
        earned = [f"{b.name} ({b.badge_id})" for b in reply.earned] or list(reply.badges)
        out.print(f"{advocate}: " + (", ".join(earned) or "no badges yet"), highlight=False)


BADGE_KINDS = {enum_name(rewards_pb2.BadgeKind, v, "BADGE_KIND_"): v for v in rewards_pb2.BadgeKind.values() if v}


def show_rules(s: State, rules: rewards_pb2.RuleSet) -> None:
    if s.json:
        emit_json(rules)
        return
    values = as_dict(rules)
    points = [[name, values[name]] for name in values if name not in ("version", "share_points_by_network", "badges")]
    points += [[f"share_points_by_network.{n}", p] for n, p in sorted(rules.share_points_by_network.items())]
    out.print(table(f"rule set version {rules.version}", ["rule", "value"], points))
    out.print(
        table(
            "badges",
            ["badge", "name", "measures", "threshold", "description"],
            (
                [
                    b.badge_id,
                    b.name,
                    enum_name(rewards_pb2.BadgeKind, b.kind, "BADGE_KIND_"),
                    b.threshold,
                    b.description,
                ]
                for b in rules.badges
            ),
        )
    )


@rules_app.command("show")
@handled
def rules_show(ctx: typer.Context) -> None:
    """The rule set in force: point rules and badges (--json prints what `rules set` reads)."""
    s = state(ctx)
    show_rules(s, s.clients.rewards.GetRuleSet(rewards_pb2.GetRuleSetRequest()))


@rules_app.command("set")
@handled
def rules_set(
    ctx: typer.Context, file: Path = typer.Argument(..., help="JSON as `advocacy --json rules show` prints.")
) -> None:
    """Store a new rule set version from a JSON file (every field explicit; no badges = the default badges)."""
    s = state(ctx)
    try:
        rules = ParseDict(json.loads(file.read_text()), rewards_pb2.RuleSet())
    except (OSError, ValueError, ParseError) as exc:
        raise UsageError(f"{file}: not a rule set ({str(exc)[:200]})") from None
    show_rules(s, s.clients.rewards.PutRuleSet(rewards_pb2.PutRuleSetRequest(rules=rules)))


@rules_app.command("badge")
@handled
def rules_badge(
    ctx: typer.Context,
    badge_id: str,
    name: str | None = typer.Option(None, "--name"),
    kind: str | None = typer.Option(None, "--kind", help=", ".join(BADGE_KINDS)),
    threshold: int | None = typer.Option(None, "--threshold"),
    description: str | None = typer.Option(None, "--description"),
    remove: bool = typer.Option(False, "--remove", help="Remove the badge instead."),
) -> None:
    """Add, change or remove one badge in a new rule set version (the rest as in force)."""
    s = state(ctx)
    rules = s.clients.rewards.GetRuleSet(rewards_pb2.GetRuleSetRequest())
    index = next((i for i, b in enumerate(rules.badges) if b.badge_id == badge_id), None)
    if remove:
        if index is None:
            raise UsageError(f"no badge {badge_id!r} in the rule set in force")
        if len(rules.badges) == 1:
            raise UsageError("a rule set without badges means the default badges: keep at least one")
        del rules.badges[index]
    else:
        badge = rules.badges[index] if index is not None else rules.badges.add(badge_id=badge_id)
        if kind is not None:
            if kind not in BADGE_KINDS:
                raise UsageError(f"--kind one of {', '.join(BADGE_KINDS)}")
            badge.kind = BADGE_KINDS[kind]
        for field, value in (("name", name), ("threshold", threshold), ("description", description)):
            if value is not None:
                setattr(badge, field, value)
    show_rules(s, s.clients.rewards.PutRuleSet(rewards_pb2.PutRuleSetRequest(rules=rules)))


BOARDS = {enum_name(rewards_pb2.Board, v, "BOARD_"): v for v in rewards_pb2.Board.values() if v}
PERIODS = {enum_name(rewards_pb2.Period, v, "PERIOD_"): v for v in rewards_pb2.Period.values() if v}


@app.command()
@handled
def leaderboard(
    ctx: typer.Context,
    board: str = typer.Option("global", "--board", help=", ".join(BOARDS)),
    period: str = typer.Option("all_time", "--period", help=", ".join(PERIODS)),
    team: str = typer.Option("", "--team"),
    campaign: str = typer.Option("", "--campaign"),
    day: str = typer.Option("", "--day", help="A day in the period (YYYY-MM-DD); default today."),
    limit: int = typer.Option(10, "--limit", min=1, max=1000),
) -> None:
    """Leaderboards: global, team, leaders, campaign, teams."""
    s = state(ctx)
    if board not in BOARDS or period not in PERIODS:
        raise UsageError(f"--board one of {', '.join(BOARDS)}; --period one of {', '.join(PERIODS)}")
    reply = s.clients.rewards.GetLeaderboard(
        rewards_pb2.GetLeaderboardRequest(
            board=BOARDS[board], period=PERIODS[period], team=team, campaign_id=campaign, day=day, limit=limit
        )
    )
    if s.json:
        emit_json(reply)
        return
    span = f" {reply.first_day}..{reply.last_day}" if reply.first_day else ""
    out.print(
        table(
            f"{board} leaderboard ({period}{span})",
            ["#", "who", "points", "active advocates", "score"],
            (
                [r.rank, r.key, f"{r.points:,}", r.active_advocates or "", f"{r.score:.2f}" if r.score else ""]
                for r in reply.rows
            ),
        )
    )


@catalog_app.command("list")
@handled
def catalog_list(
    ctx: typer.Context,
    page_size: int = page_size_option(0),
    page_token: str = PAGE_TOKEN,
    every_page: bool = ALL_PAGES,
) -> None:
    """What points can buy, by item id."""
    s = state(ctx)
    items, token = collect(
        lambda t: s.clients.rewards.ListCatalog(rewards_pb2.ListCatalogRequest(page_size=page_size, page_token=t)),
        "items",
        page_token,
        every_page,
    )
    if s.json:
        emit_json(items)
    else:
        out.print(
            table(
                "catalogue",
                ["item", "name", "cost", "stock"],
                ([i.item_id, i.name, i.cost, i.stock] for i in items),
            )
        )
    more_pages(token)


@catalog_app.command("set")
@handled
def catalog_set(
    ctx: typer.Context,
    item_id: str,
    name: str = typer.Option(..., "--name"),
    cost: int = typer.Option(..., "--cost", min=1),
    stock: int = typer.Option(..., "--stock", min=0),
) -> None:
    """Admin: create or update a catalogue item."""
    s = state(ctx)
    reply = s.clients.rewards.UpsertCatalogItem(
        rewards_pb2.UpsertCatalogItemRequest(
            item=rewards_pb2.CatalogItem(item_id=item_id, name=name, cost=cost, stock=stock)
        )
    )
    if s.json:
        emit_json(reply)
    else:
        out.print(f"catalogue: {reply.item_id} {reply.name!r} costs {reply.cost}, stock {reply.stock}")


@app.command()
@handled
def redeem(
    ctx: typer.Context,
    item_id: str,
    advocate: str = ADVOCATE,
    key: str = typer.Option("", "--key", help="Idempotency key (a retry with it never debits twice)."),
) -> None:
    """Redeem points for a catalogue item."""
    s = state(ctx)
    reply = s.clients.rewards.Redeem(
        rewards_pb2.RedeemRequest(advocate_id=advocate, item_id=item_id, idempotency_key=key or f"cli-{time.time_ns()}")
    )
    if s.json:
        emit_json(reply)
    else:
        verb = "redeemed" if reply.created else "already redeemed (same key)"
        out.print(f"{verb} {item_id} for {-reply.entry.points} points; balance {reply.balance:,}")


# --- analytics ------------------------------------------------------------------------------------

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


@app.command()
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
    ]
    out.print(table("program", ["figure", "value"], rows))


def show_rate_card(s: State, card: analytics_pb2.RateCard) -> None:
    if s.json:
        emit_json(card)
        return
    by = f" by {card.created_by}" if card.created_by else ""
    out.print(
        table(
            f"rate card v{card.version} ({card.currency}, {when(card.created_at)}{by})",
            ["network", "CPM", "CPC", "reaction multiplier"],
            (
                [enum_name(Network, r.network, "NETWORK_"), f"{r.cpm:g}", f"{r.cpc:g}", f"{r.reaction_multiplier:g}"]
                for r in card.rates
            ),
        )
    )


def rate_card_file(path: Path) -> analytics_pb2.RateCard:
    """A rate card from JSON: what `--json rate-card show` prints, or `{"currency": "EUR", "rates":
    {"LINKEDIN": {"cpm": 30, "cpc": 5, "reaction_multiplier": 0.5}}}` (ADVOCACY_RATE_CARD's form)."""
    try:
        data = json.loads(path.read_text())
        rates = data.get("rates") if isinstance(data, dict) else None
        if isinstance(rates, dict):
            data["rates"] = [
                {"network": "NETWORK_" + str(n).upper().removeprefix("NETWORK_"), **v} for n, v in rates.items()
            ]
        return ParseDict(data, analytics_pb2.RateCard())
    except (OSError, ValueError, TypeError, AttributeError, ParseError) as exc:
        raise UsageError(f"{path}: not a rate card ({str(exc)[:200]})") from None


@rate_card_app.command("show")
@handled
def rate_card_show(
    ctx: typer.Context, version: int = typer.Option(0, "--version", min=0, help="A stored version (0: in force).")
) -> None:
    """The rate card EMV is priced with (or a stored version)."""
    s = state(ctx)
    show_rate_card(s, s.clients.analytics.GetRateCard(analytics_pb2.GetRateCardRequest(version=version)))


@rate_card_app.command("set")
@handled
def rate_card_set(
    ctx: typer.Context,
    file: Path | None = typer.Argument(None, help="JSON rate card (else: the one in force, changed by the options)."),
    currency: str | None = typer.Option(None, "--currency", help="ISO 4217 code, e.g. EUR."),
    rate: list[str] = typer.Option([], "--rate", help="NETWORK=CPM,CPC,REACTION_MULTIPLIER (repeatable)."),
) -> None:
    """Store a new rate card version (in force at once; figures name their version)."""
    s = state(ctx)
    if file is not None:
        card = rate_card_file(file)
    else:
        card = s.clients.analytics.GetRateCard(analytics_pb2.GetRateCardRequest())
    if currency is not None:
        card.currency = currency
    for name, values in pairs(rate, "--rate"):
        network = parse_network(name)
        try:
            cpm, cpc, multiplier = (float(v) for v in values.split(","))
        except ValueError:
            raise UsageError(f"--rate {name}={values}: expected CPM,CPC,REACTION_MULTIPLIER") from None
        kept = [r for r in card.rates if r.network != network]
        del card.rates[:]
        card.rates.extend(kept)
        card.rates.add(network=network, cpm=cpm, cpc=cpc, reaction_multiplier=multiplier)  # type: ignore[arg-type]
    show_rate_card(s, s.clients.analytics.PutRateCard(analytics_pb2.PutRateCardRequest(rate_card=card)))


DIMENSIONS = {enum_name(analytics_pb2.Dimension, v, "DIMENSION_"): v for v in analytics_pb2.Dimension.values() if v}


@app.command()
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


# --- replay ---------------------------------------------------------------------------------------


@app.command()
@handled
def replay(
    service: str = typer.Argument(..., help="rewards or analytics"),
    kafka: str = typer.Option("127.0.0.1:9092", "--kafka", envvar="ADVOCACY_KAFKA_BOOTSTRAP"),
    topic_prefix: str = typer.Option("", "--topic-prefix", envvar="ADVOCACY_TOPIC_PREFIX"),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Follow the worker until it has caught up."),
    timeout: float = typer.Option(600.0, "--timeout", help="Seconds to follow."),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """Rebuild a stream worker's state from the topics: rewind its consumer group to the earliest
    offsets (the worker must be stopped), then follow its progress once it is started again.
    Effects are idempotent (facts by event id, ledger by event+rule): nothing is counted twice."""
    try:
        plan = reset_to_earliest(kafka, service, topic_prefix)
    except ReplayError as exc:
        raise UsageError(str(exc)) from None
    summary = {"group": plan.group, "partitions": len(plan.start), "events": plan.total}
    if not json_output:
        out.print(
            f"rewound {plan.group}: {plan.total:,} events on {len(plan.start)} partitions will be processed again; "
            f"start the {service} worker now"
        )
    if wait:
        with Progress(
            TextColumn(f"replaying {service}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[note]}"),
            console=err,
        ) as bar:
            task = bar.add_task("replay", total=max(plan.total, 1), note="")

            def on_progress(done: int, total: int, running: int) -> None:
                bar.update(task, completed=done, note="" if running else "(waiting for the worker to start)")

            try:
                caught_up = follow(kafka, plan, on_progress, timeout=timeout)
            except ReplayError as exc:
                raise UsageError(str(exc)) from None
        summary["caught_up"] = caught_up
        if not caught_up:
            err.print(f"[yellow]not caught up after {timeout:.0f} s[/yellow]; the worker goes on by itself")
            if json_output:
                emit_json(summary)
            raise typer.Exit(EXIT_REFUSED)
        if not json_output:
            out.print(f"{service} has processed all {plan.total:,} events again")
    if json_output:
        emit_json(summary)


# --- demo -----------------------------------------------------------------------------------------


@demo_app.command("seed")
@handled
def demo_seed(
    ctx: typer.Context,
    seed_value: int = typer.Option(42, "--seed"),
    advocates: int = typer.Option(300, "--advocates", min=1),
    items: int = typer.Option(40, "--items", min=1),
) -> None:
    """Seed the demo company through the APIs (idempotent: existing advocates and live items are kept)."""
    s = state(ctx)
    company = generate(seed=seed_value, advocates=advocates, items=items)
    with Progress(
        TextColumn("seeding {task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        result = seed_company(s.clients, company, progress)
    summary = {
        "advocates": len(company.advocates),
        "advocates_enrolled": result.advocates_enrolled,
        "items": len(result.items),
        "items_created": result.items_created,
        "seconds": round(result.seconds, 2),
        "content_ids": [i.content_id for i in result.items],
    }
    if s.json:
        emit_json(summary)
    else:
        out.print(
            f"{company.name}: {len(company.advocates)} advocates ({result.advocates_enrolled} newly enrolled), "
            f"{len(result.items)} items ({result.items_created} created) in {result.seconds:.1f} s"
        )


@demo_app.command("run")
@handled
def demo_run(
    ctx: typer.Context,
    duration: float = typer.Option(60.0, "--duration", help="Seconds of activity."),
    seed_value: int = typer.Option(42, "--seed"),
    advocates: int = typer.Option(300, "--advocates", min=1),
    items: int = typer.Option(40, "--items", min=1),
    shares_per_second: float = typer.Option(Rates.shares_per_second, "--shares-per-second"),
    clicks_per_second: float = typer.Option(Rates.clicks_per_second, "--clicks-per-second"),
    reports_per_second: float = typer.Option(Rates.engagement_reports_per_second, "--reports-per-second"),
) -> None:
    """Drive demo activity (shares, real link clicks, engagement) for a while: the load generator.
    Seeds first (idempotent)."""
    s = state(ctx)
    company = generate(seed=seed_value, advocates=advocates, items=items)
    with Progress(SpinnerColumn(), TextColumn("seeding"), TimeElapsedColumn(), console=err, transient=True) as bar:
        bar.add_task("seed", total=None)
        seeded = seed_company(s.clients, company)
    rates = Rates(shares_per_second, clicks_per_second, reports_per_second)
    driver = ActivityDriver(s.clients, company, seeded, rates)
    stop = threading.Event()
    with Progress(
        TextColumn("driving activity"), BarColumn(), TimeElapsedColumn(), TextColumn("{task.fields[note]}"), console=err
    ) as bar:
        task = bar.add_task("run", total=duration, note="")
        thread = driver.start_thread(stop)
        t0 = time.monotonic()
        try:
            while thread.is_alive() and time.monotonic() - t0 < duration:
                st = driver.stats
                bar.update(
                    task,
                    completed=time.monotonic() - t0,
                    note=f"{st.shares} shares {st.clicks} clicks {st.engagement_reports} reports",
                )
                time.sleep(0.5)
        finally:
            stop.set()
            thread.join(timeout=15)
    st = driver.stats
    elapsed = max(time.monotonic() - st.started, 1e-6)
    summary = {
        "seconds": round(elapsed, 1),
        "shares": st.shares,
        "share_refusals": st.share_refusals,
        "clicks": st.clicks,
        "bot_clicks": st.bot_clicks,
        "engagement_reports": st.engagement_reports,
        "errors": st.errors,
        "last_error": st.last_error,
        "rates_per_second": {
            "shares": round(st.shares / elapsed, 3),
            "clicks": round(st.clicks / elapsed, 3),
            "engagement_reports": round(st.engagement_reports / elapsed, 3),
        },
    }
    if s.json:
        emit_json(summary)
    else:
        out.print(
            f"{st.shares} shares, {st.clicks} clicks ({st.bot_clicks} bots), {st.engagement_reports} engagement "
            f"reports in {elapsed:.0f} s; {st.errors} errors" + (f" (last: {st.last_error})" if st.errors else "")
        )


@app.command()
@handled
def watch(
    ctx: typer.Context,
    refresh: float = typer.Option(1.5, "--refresh"),
    kafka: str = typer.Option("127.0.0.1:9092", "--kafka", envvar="ADVOCACY_KAFKA_BOOTSTRAP"),
    topic_prefix: str = typer.Option("", "--topic-prefix", envvar="ADVOCACY_TOPIC_PREFIX"),
    once: bool = typer.Option(False, "--once", help="Print one snapshot and exit."),
) -> None:
    """The live view of the running platform (leaderboard, top content, program figures, thank-yous,
    notifications sent)."""
    s = state(ctx)
    if once:
        snap = take_snapshot(s.clients)
        if snap.errors:
            raise ServiceErrorLine(snap.errors[0])
        if s.json:
            emit_json({"line": compact_line(snap, 0.0)})
        else:
            out.print(render(snap, "Advocacy", {}))
        return
    thanks = ThankYouFeed(kafka, f"{topic_prefix}points-awarded").start()
    notes = NotificationFeed(kafka, f"{topic_prefix}notification-sent", keep=4).start()
    try:
        with Live(console=out, auto_refresh=False) as live:
            while True:
                live.update(render(take_snapshot(s.clients), "Advocacy", {}, thanks, notifications=notes), refresh=True)
                time.sleep(refresh)
    except KeyboardInterrupt:
        pass
    finally:
        thanks.stop()
        notes.stop()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
