"""Advocates: enrol, their ranked feed, and sharing an item to a network."""

from __future__ import annotations

import time

import typer
from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.content.v1 import content_pb2
from advocacy.share.v1 import share_pb2

from services.cli.context import ADVOCATE, UsageError, handled, pairs, parse_network, state
from services.cli.output import emit_json, enum_name, out, table


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


@handled
def own_post(
    ctx: typer.Context,
    url: str = typer.Option(..., "--url", help="Your own page: an absolute http(s) URL."),
    advocate: str = typer.Option(..., "--as", "--advocate", envvar="ADVOCACY_ADVOCATE", help="Advocate id."),
    network: str = typer.Option("linkedin", "--network"),
    message: str = typer.Option("", "--message", help="What you wrote with it."),
    key: str = typer.Option("", "--key", help="Idempotency key: a retry with the same key is the same post."),
) -> None:
    """Record a post of my own (my URL and text, no company item) on one of my networks; prints
    the tracked link. It earns points and is measured like a share."""
    s = state(ctx)
    net = parse_network(network)
    reply = s.clients.share.RecordOwnPost(
        share_pb2.RecordOwnPostRequest(
            advocate_id=advocate,
            network=net,
            url=url,
            message=message,
            idempotency_key=key or f"cli-own-{advocate}-{network}-{time.time_ns()}",
        )
    )
    if s.json:
        emit_json(reply)
    else:
        verb = "posted" if reply.created else "already posted (same key)"
        out.print(
            f"{verb}: {reply.share.share_id} ({reply.share.content_id}) to {reply.share.audience_size:,} people; "
            f"link {reply.share.tracked_url}"
        )
