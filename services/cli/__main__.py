"""`advocacy`: the command-line client of the Advocacy platform, over its gRPC APIs.

Addresses: --<service>-addr or ADVOCACY_<SERVICE>_ADDR (default: the `make run` ports). Token:
--token or ADVOCACY_TOKEN (sent as `authorization: Bearer …`). --json prints machine-readable
output. Exit codes: 0 ok, 1 refused by a service, 2 usage, 3 a service is unreachable, 4 no or
refused token.
"""

from __future__ import annotations

import typer

from services.cli.commands import (
    admin,
    analytics,
    content,
    demo,
    dlq,
    history_import,
    notify,
    rate_card,
    replay,
    rewards,
    rules,
    share,
    sources,
    stats,
    topics,
    training,
)
from services.cli.context import State
from services.clients import Clients

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_enable=False)


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


# Top-level commands, in the order `--help` lists them, then the command groups.
for command in (
    share.enroll,
    share.feed,
    share.share,
    share.own_post,
    notify.notifications,
    rewards.points,
    rewards.history,
    rewards.badges,
    rewards.leaderboard,
    rewards.redeem,
    stats.comments,
    stats.export,
    replay.replay,
    demo.watch,
    topics.topics,
):
    app.command()(command)
app.add_typer(content.content_app, name="content")
app.add_typer(content.suggestions_app, name="suggestions")
app.add_typer(stats.stats_app, name="stats")
app.add_typer(analytics.analytics_app, name="analytics")
app.add_typer(rewards.catalog_app, name="catalog")
app.add_typer(demo.demo_app, name="demo")
app.add_typer(sources.sources_app, name="sources")
app.add_typer(training.training_app, name="training")
app.add_typer(rules.rules_app, name="rules")
app.add_typer(rate_card.rate_card_app, name="rate-card")
app.add_typer(dlq.dlq_app, name="dlq")
app.add_typer(admin.admin_app, name="admin")
app.add_typer(history_import.import_app, name="import")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
