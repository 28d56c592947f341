"""Points, history, badges, leaderboards, the catalogue and redemptions."""

from __future__ import annotations

import time

import typer
from advocacy.rewards.v1 import rewards_pb2

from services.cli.context import ADVOCATE, UsageError, handled, list_command, state
from services.cli.output import (
    ALL_PAGES,
    PAGE_TOKEN,
    collect,
    emit_json,
    enum_name,
    more_pages,
    out,
    table,
    when,
)

catalog_app = typer.Typer(no_args_is_help=True, help="The rewards catalogue.")


@handled
def points(ctx: typer.Context, advocate: str = ADVOCATE) -> None:
    """My points balance."""
    s = state(ctx)
    balance = s.clients.rewards.GetBalance(rewards_pb2.GetBalanceRequest(advocate_id=advocate, with_ledger_check=True))
    if s.json:
        emit_json(balance)
    else:
        out.print(f"{advocate}: {balance.points:,} points from {balance.entries} ledger entries")


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


BOARDS = {enum_name(rewards_pb2.Board, v, "BOARD_"): v for v in rewards_pb2.Board.values() if v}
PERIODS = {enum_name(rewards_pb2.Period, v, "PERIOD_"): v for v in rewards_pb2.Period.values() if v}


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


list_command(
    catalog_app,
    "What points can buy, by item id.",
    lambda clients, size, t: clients.rewards.ListCatalog(rewards_pb2.ListCatalogRequest(page_size=size, page_token=t)),
    "items",
    lambda items: table(
        "catalogue", ["item", "name", "cost", "stock"], ([i.item_id, i.name, i.cost, i.stock] for i in items)
    ),
)


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
