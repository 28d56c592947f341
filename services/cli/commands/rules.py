"""The point rules and badges in force (versioned data; admin)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from advocacy.rewards.v1 import rewards_pb2
from google.protobuf.json_format import ParseDict, ParseError

from services.cli.context import State, UsageError, handled, state
from services.cli.output import as_dict, emit_json, enum_name, out, table

rules_app = typer.Typer(no_args_is_help=True, help="Admin: the point rules and badges in force (versioned data).")

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
