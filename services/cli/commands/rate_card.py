"""The EMV rate card (versioned; admin)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from advocacy.analytics.v1 import analytics_pb2
from advocacy.common.v1.common_pb2 import Network
from google.protobuf.json_format import ParseDict, ParseError

from services.cli.context import State, UsageError, handled, pairs, parse_network, state
from services.cli.output import emit_json, enum_name, out, table, when

rate_card_app = typer.Typer(no_args_is_help=True, help="Admin: the EMV rate card (versioned; figures name theirs).")


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
