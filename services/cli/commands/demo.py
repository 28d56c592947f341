"""The demo company (seed, drive activity) and the live view."""

from __future__ import annotations

import threading
import time

import typer
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from services.cli.context import ServiceErrorLine, handled, state
from services.cli.output import emit_json, err, out
from services.demo.activity import ActivityDriver, Rates
from services.demo.company import generate
from services.demo.seed import seed as seed_company
from services.demo.view import NotificationFeed, ThankYouFeed, compact_line, render, take_snapshot

demo_app = typer.Typer(no_args_is_help=True, help="The demo company: seed it, drive activity (load), watch.")


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
        "trained": len(company.trained),
        "lessons_completed": result.lessons_completed,
        # The history imported now (services/demo/history.py); a re-run imports nothing twice.
        "advocates_imported": result.advocates_imported,
        "history_items_imported": result.history_items_imported,
        "history_shares_imported": result.history_shares_imported,
        "history_own_posts_imported": result.history_own_posts_imported,
        "history_shares_existing": result.history_shares_existing,
        "seconds": round(result.seconds, 2),
        "content_ids": [i.content_id for i in result.items],
    }
    if s.json:
        emit_json(summary)
    else:
        out.print(
            f"{company.name}: {len(company.advocates)} advocates ({result.advocates_enrolled} newly enrolled), "
            f"{len(result.items)} items ({result.items_created} created), {len(company.trained)} trained "
            f"({result.lessons_completed} lessons completed now) in {result.seconds:.1f} s\n"
            f"history imported: {result.advocates_imported} advocates enrolled in past months, "
            f"{result.history_items_imported} archive items, {result.history_shares_imported} past shares "
            f"({result.history_own_posts_imported} own posts; {result.history_shares_existing} imported before)"
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
    drive(driver, duration)
    st = driver.stats
    elapsed = max(time.monotonic() - st.started, 1e-6)
    summary = {
        "seconds": round(elapsed, 1),
        "shares": st.shares,
        "own_posts": st.own_posts,
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


def drive(driver: ActivityDriver, duration: float) -> None:
    """Runs the driver for `duration` seconds under a progress bar counting what it sent."""
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
