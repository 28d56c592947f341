"""`make soak`: the demo company at its default rates (ADVOCACY_DEMO_* env vars change them) for
ADVOCACY_SOAK_MINUTES (default 30) on a Kafka + FerretDB stack of its own (.local/soak), with every
service's resident memory (RSS) sampled every few seconds.

Printed per service: RSS at the end of the warm-up, at the end, and the growth rate after the
warm-up (least-squares slope, MiB/min), with a verdict against FLAT_MIB_PER_MINUTE. A stream worker's
RocksDB block cache (its metrics) fills up to its capacity and stops there: for a process with a
cache the verdict is on the growth of RSS at a constant cache (growth_beside_cache), the raw RSS
slope and the cache's usage against its capacity printed beside it. The services
see what `make run` makes them see: the activity driver's shares, clicks and engagement reports,
and the live view's reads (leaderboard, top content, program overview) every 1.5 s. Results also
go to `.local/soak/results.json`. Everything it started is stopped, also on Ctrl-C or failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from bench.report import machine_info
from infra import stack as local_stack
from services.clients import Clients, ServiceError
from services.common.auth import ADMIN
from services.common.memory import rss_mib
from services.common.topics import provision
from services.demo.activity import ActivityDriver, DriverStats, Rates
from services.demo.company import COMPANY_CHANNELS, generate
from services.demo.seed import SeedResult, seed
from services.demo.view import take_snapshot
from services.platform.supervisor import SERVICE_NAMES, Platform, default_ports

ROOT = Path(__file__).resolve().parents[1]
# ADVOCACY_SOAK_DIR: another data directory, e.g. for a second soak beside the first (other ports too).
DATA = Path(os.environ.get("ADVOCACY_SOAK_DIR", ROOT / ".local" / "soak"))
PORT_OFFSET = int(os.environ.get("ADVOCACY_TEST_PORT_OFFSET", "0"))
# A worker's RSS may rise by at most this much per minute after warm-up to count as flat: 0.25
# MiB/min is 360 MiB a day, the headroom of the smallest pod limit (512 MiB for content and share,
# which run near 100 MiB) in about a day, and far below the few MiB/min of a worker whose RocksDB
# memtables are unbounded (services/common/rocksdb.py).
# A lower bar is beyond what 20 minutes can resolve: a one-off 2 MiB step of the allocator in the
# middle of a 17-minute window reads as a slope of about 0.18 MiB/min.
FLAT_MIB_PER_MINUTE = 0.25
VIEW_REFRESH_SECONDS = 1.5  # as `make run`'s live view
CONSUMED = "advocacy_events_consumed_total"
CACHE_USAGE = "advocacy_rocksdb_block_cache_usage_bytes"
CACHE_CAPACITY = "advocacy_rocksdb_block_cache_capacity_bytes"
MIB = 2**20
STREAM_WORKERS = ("rewards", "analytics")
STALL_MINUTES = 3.0  # the demo sends events every second: a consumer idle this long has stalled


@dataclass
class Series:
    """One service's RSS samples: (minutes since the demo started, MiB), its count of events
    consumed (its metrics), which must keep rising: a stalled worker's flat RSS proves nothing, and
    its RocksDB block cache's usage (MiB, sampled with the RSS) and capacity, when it has one."""

    pid: int
    metrics_port: int | None  # only for the stream workers, which the demo feeds every second
    samples: list[tuple[float, float]] = field(default_factory=list)
    consumed: list[tuple[float, float]] = field(default_factory=list)
    cache: list[tuple[float, float]] = field(default_factory=list)
    cache_capacity_mib: float | None = None

    def after(self, minute: float) -> list[tuple[float, float]]:
        return [s for s in self.samples if s[0] >= minute]

    def with_cache_peak(self, minute: float) -> list[tuple[float, float, float]]:
        """(minute, RSS, the most the cache has held up to then) after `minute`, for the samples
        with a cache figure. The high-water mark, not the usage: blocks the cache drops (those of
        files a compaction deleted) leave their memory with the allocator, and RSS does not fall."""
        peak, held = 0.0, {}
        for t, usage in self.cache:
            peak = max(peak, usage)
            held[t] = peak
        return [(t, rss, held[t]) for t, rss in self.after(minute) if t in held]


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of y over x (MiB per minute); None with fewer than two distinct x."""
    n = len(points)
    if n < 2:
        return None
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def scrape(metrics_port: int) -> dict[str, float] | None:
    """The service's metrics, each name summed over its labels (None: not reachable)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2) as reply:
            text = reply.read().decode()
    except OSError:
        return None
    return parse_metrics(text)


def parse_metrics(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.split("{", 1)[0].split(" ", 1)[0], line.rsplit(" ", 1)[1]
            out[name] = out.get(name, 0.0) + float(value)
    return out


def record_metrics(series: Series, elapsed: float, metrics: dict[str, float]) -> None:
    if CONSUMED in metrics:
        series.consumed.append((elapsed, metrics[CONSUMED]))
    if CACHE_USAGE in metrics:
        series.cache.append((elapsed, metrics[CACHE_USAGE] / MIB))
    if CACHE_CAPACITY in metrics:
        series.cache_capacity_mib = metrics[CACHE_CAPACITY] / MIB


def progress(series: Series, warmup_end: float) -> dict[str, object]:
    """Events consumed after warm-up, and the last minute the count rose."""
    after = [c for c in series.consumed if c[0] >= warmup_end]
    rose = [b[0] for a, b in zip(series.consumed, series.consumed[1:], strict=False) if b[1] > a[1]]
    return {
        "events_consumed_after_warmup": after[-1][1] - after[0][1] if after else None,
        "last_consumed_minute": round(rose[-1], 1) if rose else None,
    }


def _mib(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


COLLINEAR = 0.95  # r² of minutes and cache peak above which their effects are not told apart


def growth_beside_cache(points: list[tuple[float, float, float]]) -> tuple[float | None, float | None]:
    """RSS growth per minute at a constant cache, and what a MiB of cache costs in RSS: the least
    squares fit of RSS ≈ a + b·minute + c·cache peak over (minute, RSS, cache peak) samples, (b, c).
    A block in the cache costs the allocator more than the cache charges for it, so RSS minus the
    cache still rises while it fills; the fit separates that, as long as the cache does not fill
    steadily all the while (minutes and peak collinear): then c is unknown and b is the slope of
    RSS minus the peak, which counts the overhead as growth."""
    n = len(points)
    if n < 3:
        return slope([(t, rss - peak) for t, rss, peak in points]), None
    mt, mr, mp = (sum(p[i] for p in points) / n for i in range(3))
    stt = sum((t - mt) ** 2 for t, _, _ in points)
    spp = sum((p - mp) ** 2 for _, _, p in points)
    stp = sum((t - mt) * (p - mp) for t, _, p in points)
    sty = sum((t - mt) * (r - mr) for t, r, _ in points)
    spy = sum((p - mp) * (r - mr) for _, r, p in points)
    if stt == 0 or spp == 0 or stp * stp > COLLINEAR * stt * spp:
        return slope([(t, rss - peak) for t, rss, peak in points]), None
    det = stt * spp - stp * stp
    return (spp * sty - stp * spy) / det, (stt * spy - stp * sty) / det


def cache_figures(series: Series, warmup_end: float) -> dict[str, object]:
    """The cache's usage at the end of the warm-up and at the end, its capacity, and the growth of
    RSS at a constant cache after warm-up (None for a process without a cache)."""
    steady = [c for c in series.cache if c[0] >= warmup_end]
    growth, cost = growth_beside_cache(series.with_cache_peak(warmup_end))
    return {
        "cache_at_warmup_end_mib": _mib(steady[0][1]) if steady else None,
        "cache_at_end_mib": _mib(series.cache[-1][1]) if series.cache else None,
        "cache_capacity_mib": _mib(series.cache_capacity_mib),
        "growth_without_cache_mib_per_minute": _mib(growth, 3),
        "rss_per_cache_mib": _mib(cost, 2),
    }


def summarize(name: str, series: Series, warmup_end: float, threshold: float) -> dict[str, object]:
    steady = series.after(warmup_end)
    rate = slope(steady)
    moved = progress(series, warmup_end)
    cache = cache_figures(series, warmup_end)
    end = series.samples[-1][0] if series.samples else 0.0
    last = cast(float | None, moved["last_consumed_minute"])
    # A consumer that stopped consuming minutes before the end proves nothing by a flat RSS.
    stalled = bool(series.consumed) and (last is None or last < end - STALL_MINUTES)
    # The cache stops growing at its capacity: what is judged is the rest of the process's memory.
    without_cache = cast(float | None, cache["growth_without_cache_mib_per_minute"])
    judged = rate if without_cache is None else without_cache
    return {
        "service": name,
        "rss_at_warmup_end_mib": _mib(steady[0][1]) if steady else None,
        "rss_at_end_mib": _mib(series.samples[-1][1]) if series.samples else None,
        "rss_peak_mib": _mib(max(s[1] for s in series.samples)) if series.samples else None,
        "growth_mib_per_minute": _mib(rate, 3),
        **cache,
        "judged_on": "rss" if without_cache is None else "rss-cache",
        "samples_after_warmup": len(steady),
        **moved,
        "stalled": stalled,
        "flat": None if judged is None or stalled else judged <= threshold,
    }


class Demo:
    """The demo company seeded and driven through the APIs, and the live view's reads, on threads."""

    def __init__(self, platform: Platform, stop: threading.Event) -> None:
        self.stop = stop
        company = generate(seed=42, advocates=300, items=40)  # `make run`'s defaults
        self.clients = Clients.from_env(
            token=platform.token(ADMIN, "soak"), **{name: platform.address(name) for name in SERVICE_NAMES}
        )
        self.seeded = SeedResult()
        self.driver = ActivityDriver(self.clients, company, self.seeded, Rates.from_env())
        self.failures: list[str] = []
        self.view_reads = 0
        self.started = time.monotonic()
        self.seeded_minute: float | None = None  # the warm-up counts from here
        self.threads = [
            threading.Thread(target=self._seed, args=(company,), name="soak-seed", daemon=True),
            threading.Thread(target=self._view, name="soak-view", daemon=True),
            self.driver.start_thread(stop),
        ]
        for thread in self.threads[:2]:
            thread.start()

    def _seed(self, company: object) -> None:
        try:
            seed(self.clients, company, result=self.seeded)  # type: ignore[arg-type]
            self.seeded_minute = (time.monotonic() - self.started) / 60
        except ServiceError as exc:
            self.failures.append(f"seeding failed: {exc}")
            self.stop.set()

    def _view(self) -> None:
        while not self.stop.wait(VIEW_REFRESH_SECONDS):
            snap = take_snapshot(self.clients)
            self.view_reads += 1
            if snap.errors and self.seeded.done.is_set():
                self.driver.stats.errors += 1
                self.driver.stats.last_error = snap.errors[-1]

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=15)
        self.clients.close()


def stack_config() -> local_stack.StackConfig:
    return local_stack.StackConfig.from_env(
        {},
        data_dir=DATA,
        kafka_port=32092 + PORT_OFFSET,
        kafka_controller_port=32093 + PORT_OFFSET,
        mongo_port=32019 + PORT_OFFSET,
    )


def make_platform(cfg: local_stack.StackConfig) -> Platform:
    http_port = 17080 + PORT_OFFSET
    return Platform(
        env={
            "ADVOCACY_KAFKA_BOOTSTRAP": cfg.kafka_bootstrap,
            "ADVOCACY_MONGO_URL": cfg.mongo_url,
            "ADVOCACY_STATE_DIR": str(DATA / "faust"),
            "ADVOCACY_HTTP_PORT": str(http_port),
            "ADVOCACY_PUBLIC_BASE_URL": f"http://127.0.0.1:{http_port}",
            "ADVOCACY_COMPANY_CHANNEL_AUDIENCE": json.dumps(COMPANY_CHANNELS),
        },
        log_dir=DATA / "logs",
        ports=default_ports(base_grpc=27051 + PORT_OFFSET, base_metrics=22201 + PORT_OFFSET),
    )


def demo_rates(stats: DriverStats) -> dict[str, float]:
    return {
        "shares_per_second": round(stats.per_second(stats.shares), 2),
        "clicks_per_second": round(stats.per_second(stats.clicks), 2),
        "engagement_reports_per_second": round(stats.per_second(stats.engagement_reports), 2),
        "errors": stats.errors,
    }


def sample_until(
    platform: Platform, demo: Demo, series: dict[str, Series], minutes: float, every: float, stop: threading.Event
) -> str:
    """Samples every service's RSS until the run's end; returns why it ended."""
    next_line = 1.0
    while True:
        elapsed = (time.monotonic() - demo.started) / 60
        for s in series.values():
            if (rss := rss_mib(s.pid)) is not None:
                s.samples.append((elapsed, rss))
            if s.metrics_port is not None and (metrics := scrape(s.metrics_port)) is not None:
                record_metrics(s, elapsed, metrics)
        if elapsed >= next_line:
            next_line += 1.0
            now = ", ".join(f"{n} {s.samples[-1][1]:.0f}" for n, s in series.items() if s.samples)
            st = demo.driver.stats
            print(
                f"  {elapsed:4.1f} min  RSS MiB: {now}  |  demo {st.shares} shares, {st.clicks} clicks, "
                f"{st.engagement_reports} reports, {st.errors} errors",
                flush=True,
            )
        if dead := platform.exited():
            return f"a service exited: {dead}"
        if stop.is_set():
            return "; ".join(demo.failures) or "interrupted"
        if elapsed >= minutes:
            return "completed"
        stop.wait(every)


def verdict(row: dict[str, object]) -> str:
    if row["stalled"]:
        return "STALLED"
    flat = {True: "flat", False: "GROWS", None: "-"}[cast(bool | None, row["flat"])]
    if row["judged_on"] != "rss-cache":
        return flat
    cost = row["rss_per_cache_mib"]
    return flat + (" (RSS-cache)" if cost is None else f" (RSS-cache; a cache MiB took {cost} MiB of RSS)")


def cache_column(row: dict[str, object]) -> str:
    """The cache's usage at the warm-up's end and at the end against its capacity, e.g. `40→61/64`."""
    if row["cache_capacity_mib"] is None:
        return "-"
    return f"{row['cache_at_warmup_end_mib']}→{row['cache_at_end_mib']}/{row['cache_capacity_mib']:g}"


def print_summary(rows: list[dict[str, object]], seeded: float, warmup: float, threshold: float) -> None:
    print(
        f"\nRSS from the end of a {warmup:g}-minute warm-up after seeding (done {seeded:.1f} min into the demo); "
        f"flat: growth <= {threshold} MiB/min; where there is a RocksDB block cache, judged on RSS growth at a "
        "constant cache (RSS-cache: the cache stops at its capacity)"
    )
    print(
        f"{'service':<10} {'warm-up end':>12} {'end':>9} {'peak':>9} {'RSS growth':>14} {'per day':>9} "
        f"{'cache MiB':>15} {'RSS-cache':>14}  verdict"
    )
    for r in rows:
        growth = cast(float | None, r["growth_mib_per_minute"])
        day = "-" if growth is None else f"{growth * 1440:.0f} MiB"
        net = r["growth_without_cache_mib_per_minute"]
        net_text = "-" if net is None else f"{net} MiB/min"
        consumed = r["events_consumed_after_warmup"]
        print(
            f"{r['service']:<10} {r['rss_at_warmup_end_mib']!s:>8} MiB {r['rss_at_end_mib']!s:>5} MiB "
            f"{r['rss_peak_mib']!s:>5} MiB {growth!s:>6} MiB/min {day:>9} {cache_column(r):>15} {net_text:>14}  "
            + verdict(r)
            + ("" if consumed is None else f" ({consumed:,.0f} events consumed after warm-up)")
        )


def run(minutes: float, warmup: float, every: float, stop: threading.Event) -> dict[str, object]:
    cfg = stack_config()
    local_stack.install(cfg)
    local_stack.reset(cfg)  # a first start each time: the soak measures a fresh platform
    shutil.rmtree(DATA / "faust", ignore_errors=True)
    shutil.rmtree(DATA / "logs", ignore_errors=True)
    platform = make_platform(cfg)
    demo: Demo | None = None
    series: dict[str, Series] = {}
    try:
        local_stack.start(cfg)
        provision(cfg.kafka_bootstrap)
        platform.start()
        series = {
            name: Series(platform.processes[name].pid, platform.ports[name].metrics if name in STREAM_WORKERS else None)
            for name in SERVICE_NAMES
        }
        print(f"platform ready; demo for {minutes:g} min, RSS every {every:g} s; logs: {platform.log_dir}/", flush=True)
        demo = Demo(platform, stop)
        ended = sample_until(platform, demo, series, minutes, every, stop)
    finally:
        if demo is not None:
            demo.close()
        codes = platform.stop()
        local_stack.stop(cfg)
    seeded = demo.seeded_minute if demo is not None and demo.seeded_minute is not None else minutes
    rows = [summarize(name, s, seeded + warmup, FLAT_MIB_PER_MINUTE) for name, s in series.items()]
    return {
        "ended": ended,
        "minutes": minutes,
        "seeded_after_minutes": round(seeded, 2),
        "warmup_minutes": warmup,
        "threshold_mib_per_minute": FLAT_MIB_PER_MINUTE,
        "demo": {**demo_rates(demo.driver.stats), "view_reads": demo.view_reads} if demo else {},
        "exit_codes": codes,
        "services": rows,
        "samples": {name: s.samples for name, s in series.items()},
        "cache_samples": {name: s.cache for name, s in series.items() if s.cache},
        "consumed_samples": {name: s.consumed for name, s in series.items() if s.consumed},
    }


def main() -> None:
    minutes = float(os.environ.get("ADVOCACY_SOAK_MINUTES", "30"))
    # Caches, connection pools, RocksDB's memtables (to their limit) and the allocator settle first.
    warmup = float(os.environ.get("ADVOCACY_SOAK_WARMUP_MINUTES", min(10.0, minutes / 3)))
    every = float(os.environ.get("ADVOCACY_SOAK_SAMPLE_SECONDS", "5"))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: stop.set())
    result = run(minutes, warmup, every, stop)
    rows = cast(list[dict[str, object]], result["services"])
    print_summary(rows, cast(float, result["seeded_after_minutes"]), warmup, FLAT_MIB_PER_MINUTE)
    print(f"demo: {result['demo']}; ended: {result['ended']}")
    DATA.mkdir(parents=True, exist_ok=True)
    out = DATA / "results.json"
    out.write_text(json.dumps({"machine": machine_info(), **result}, indent=2))
    print(f"results: {out}")
    flat = all(r["flat"] for r in rows)
    sys.exit(0 if result["ended"] == "completed" and flat else 1)


if __name__ == "__main__":
    main()
