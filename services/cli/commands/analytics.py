"""Analytics: programme health (cohorts, time to first share, retention, activity) and training."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from advocacy.analytics.v1 import analytics_pb2

from services.cli.context import handled, state
from services.cli.output import emit_json, out, table

analytics_app = typer.Typer(no_args_is_help=True, help="Programme health and training figures (issue 23).")

TEAM = typer.Option("", "--team", help="One team (default: the whole programme).")
FROM = typer.Option("", "--from", help="First month, YYYY-MM (default: 11 months before --to).")
TO = typer.Option("", "--to", help="Last month, YYYY-MM (default: the current month, UTC).")


def _pct(value: float) -> str:
    return f"{value:.0%}"


def show_health(h: analytics_pb2.ProgramHealth) -> None:
    scope = f"team {h.team}" if h.team else "programme"
    longest = max((len(c.retained) for c in h.cohorts), default=0)
    cohort_rows = (
        [
            c.month,
            c.enrolled,
            c.shared,
            c.median_days_to_first_share if c.HasField("median_days_to_first_share") else "",
            c.p90_days_to_first_share if c.HasField("p90_days_to_first_share") else "",
            *(_pct(r) for r in c.retention),
        ]
        for c in h.cohorts
    )
    columns = ["cohort", "enrolled", "shared", "median days", "p90 days", *(f"M+{k}" for k in range(longest))]
    out.print(table(f"{scope}: cohorts {h.from_month}..{h.to_month}", columns, cohort_rows))
    activity_rows = (
        [
            a.month,
            a.shares,
            a.active_advocates,
            *a.advocates_per_bucket,
            _pct(a.top_decile_share),
            f"{_pct(a.leader_share_of_shares)} ({a.leader_shares})",
            f"{_pct(a.leader_share_of_active)} ({a.active_leaders})",
        ]
        for a in h.activity
    )
    buckets = [f"{label} shares" for label in h.bucket_labels]
    columns = ["month", "shares", "active", *buckets, "top 10 %", "leaders' shares", "leaders active"]
    out.print(table(f"{scope}: activity", columns, activity_rows))


@analytics_app.command("health")
@handled
def health(ctx: typer.Context, team: str = TEAM, first: str = FROM, last: str = TO) -> None:
    """Cohorts by enrolment month (time to first share, retention) and monthly activity."""
    s = state(ctx)
    request = analytics_pb2.GetProgramHealthRequest(team=team, from_month=first, to_month=last)
    reply = s.clients.analytics.GetProgramHealth(request)
    if s.json:
        emit_json(reply)
    else:
        show_health(reply)


@analytics_app.command("health-csv")
@handled
def health_csv(
    ctx: typer.Context,
    team: str = TEAM,
    first: str = FROM,
    last: str = TO,
    output: Path | None = typer.Option(None, "--out", "-o", help="File to write (default: stdout)."),
) -> None:
    """The health figures as CSV."""
    s = state(ctx)
    request = analytics_pb2.GetProgramHealthRequest(team=team, from_month=first, to_month=last)
    reply = s.clients.analytics.ExportHealthCsv(request)
    if output is None:
        sys.stdout.write(reply.csv)
        return
    output.write_text(reply.csv)
    out.print(f"wrote {output} ({reply.csv.count(chr(10))} lines; suggested name {reply.filename})")


@analytics_app.command("training")
@handled
def training(ctx: typer.Context, team: str = TEAM) -> None:
    """Lesson completions and completion rates per lesson and team."""
    s = state(ctx)
    reply = s.clients.analytics.GetTrainingStats(analytics_pb2.GetTrainingStatsRequest(team=team))
    if s.json:
        emit_json(reply)
        return
    rows = (
        [
            r.lesson_id,
            r.lesson_title,
            r.team or "(programme)",
            r.completions,
            f"{r.completers_enrolled}/{r.enrolled}",
            _pct(r.completion_rate) if r.HasField("completion_rate") else "",
        ]
        for r in reply.lessons
    )
    columns = ["lesson", "title", "team", "completions", "completed / enrolled now", "rate"]
    out.print(table("training", columns, rows))
