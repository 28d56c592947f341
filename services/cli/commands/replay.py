"""Replay: rewind a stopped stream worker's consumer group and follow its catch-up."""

from __future__ import annotations

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.cli.context import EXIT_REFUSED, UsageError, handled
from services.cli.output import emit_json, err, out
from services.cli.replay import ReplayError, follow, reset_to_earliest


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
