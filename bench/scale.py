"""P4 scale: a generated company replayed through the real pipeline, then its leaderboards queried.

A company of `advocates` advocates (teams, leaders, timezones; each enrolled through the snapshot
its events carry, as the workers read it), `shares` shares and `engagements` engagement events:

- sharing is Zipf-like (advocate i shares with weight 1 / (i + 1)): a few share a lot, most a little;
- audiences are heavy-tailed (log-normal, 50 to 50,000 people), and engagement follows audience:
  each share gets engagement events in proportion to its audience (clicks, impressions, reactions,
  comments, reshares), each a little after the share;
- shares are spread over 8 weeks across 500 content items.

The whole history is produced straight onto the real `share-made` / `engagement-observed` topics
(one batching, idempotent producer, keyed by advocate like the share service's relay) BEFORE the
workers start, so the backlog is the same for every run. Then the real rewards and analytics
workers (`python -m services.rewards` / `.analytics`) run together, as in production, and:

- **rate**: events per second from each consumer group's committed offsets (between its first
  and its last commit, like P1), the pipeline's rate being the slower of the two;
- **peak RSS** of each worker process (and any children): the kernel's high-water mark (VmHWM)
  of each process, read until the worker is stopped;
- **leaderboard p99**: once both groups committed everything (and the early-sharer bonuses were
  applied), GetLeaderboard over the real gRPC API, one call at a time, cycling through the global
  and team boards for all time and for one week of the history, `--lb-queries` calls (or
  `--lb-seconds`, whichever ends first);
- **analytics query times**: then the analytics API's typical questions (the program by day, a
  team by hour for a week, an item all-time, top content, the program overview), each asked
  `ANALYTICS_ROUNDS` times, one call at a time, once its rollup documents caught up: the first call
  reads the rollup documents (cold), the later ones come from the stats cache (warm) unless
  `ADVOCACY_STATS_CACHE_SECONDS=0`.

`python -m bench.scale` runs P4 alone on a stack of its own (the issue's full size: 100,000
advocates, 1,000,000 shares, 10,000,000 engagement events; BENCH_SCALE_ADVOCATES, _SHARES and
_ENGAGEMENTS or the options change it); `make bench` runs it at a quick size with the others.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import math
import os
import random
import statistics
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import grpc
from advocacy.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.rewards.v1 import rewards_pb2, rewards_pb2_grpc
from advocacy.share.v1.share_pb2 import EngagementKind
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.stream import (
    TIMEZONES,
    Rate,
    _stream_env,
    committed_progress,
    documents_written,
    engagement_observed,
    share_made,
)
from infra import stack as local_stack
from services.common.events import to_timestamp
from services.common.topics import ENGAGEMENT_OBSERVED, SHARE_MADE, provision
from services.platform.supervisor import Platform, ServicePorts
from services.rewards.stream.agents import EARLY_SHARERS, INTERNAL_PARTITIONS

ROOT = Path(__file__).resolve().parents[1]
FULL = (100_000, 1_000_000, 10_000_000)
QUICK = (1_000, 1_500, 6_000)  # `make bench`: about a minute of processing on the loaded 2-core machine
START = datetime(2026, 9, 7, tzinfo=UTC)  # a Monday
WEEKS = 8
ITEMS = 500
TEAMS = 40
# Engagement kinds and their shares of all engagement events.
KINDS = [("CLICK", 30), ("IMPRESSION", 40), ("REACTION", 20), ("COMMENT", 6), ("RESHARE", 4)]
RSS_TARGET_MIB = 1024.0
LEADERBOARD_TARGET_MS = 20.0
ANALYTICS_ROUNDS = 3


@dataclass(frozen=True)
class Size:
    advocates: int
    shares: int
    engagements: int

    @property
    def events(self) -> int:
        return self.shares + self.engagements

    def __str__(self) -> str:
        return f"{self.advocates:,} advocates, {self.shares:,} shares, {self.engagements:,} engagement events"


def size_from_env(default: tuple[int, int, int]) -> Size:
    env = os.environ.get
    return Size(
        int(env("BENCH_SCALE_ADVOCATES", default[0])),
        int(env("BENCH_SCALE_SHARES", default[1])),
        int(env("BENCH_SCALE_ENGAGEMENTS", default[2])),
    )


def _snapshot(a: int) -> AdvocateSnapshot:
    return AdvocateSnapshot(
        advocate_id=f"a{a}",
        display_name=f"Advocate{a} Example",
        team=f"team{a % TEAMS}",
        leader=a % 50 == 0,
        timezone=TIMEZONES[a % len(TIMEZONES)],
    )


def generate(size: Size, seed: int = 4) -> Iterator[tuple[str, bytes, bytes]]:
    """Yields (topic name, key, serialized event): each share, then the engagement it earned.

    Memory stays flat in the size: shares are drawn one at a time (Zipf-like over advocates), and
    each share's engagement count is its audience's expected share of all engagement events,
    rounded at random (so the total is `size.engagements` give or take a few; the exact counts are
    what `Produced` reports)."""
    rnd = random.Random(seed)
    cum, total = [], 0.0
    for i in range(size.advocates):  # Zipf-like sharing: weight 1 / (i + 1)
        total += 1 / (i + 1)
        cum.append(total)
    # Mean audience of the log-normal below, so that engagement per share follows audience.
    mu, sigma = math.log(400), 1.0
    mean_audience = math.exp(mu + sigma**2 / 2)
    per_share = size.engagements / max(size.shares, 1)
    kinds = [EngagementKind.Value(f"ENGAGEMENT_KIND_{k}") for k, _ in KINDS]
    kind_cum = [sum(w for _, w in KINDS[: i + 1]) for i in range(len(KINDS))]
    span_minutes = WEEKS * 7 * 24 * 60
    published = [START + timedelta(minutes=rnd.randrange(span_minutes - 3 * 24 * 60)) for _ in range(ITEMS)]
    snapshots: dict[int, AdvocateSnapshot] = {}
    for seq in range(size.shares):
        a = min(bisect.bisect_left(cum, rnd.random() * total), size.advocates - 1)
        advocate = snapshots.get(a)
        if advocate is None:
            advocate = snapshots[a] = _snapshot(a)
        item = rnd.randrange(ITEMS)
        at = published[item] + timedelta(minutes=rnd.randrange(1, 3 * 24 * 60))
        network = Network.NETWORK_LINKEDIN if rnd.random() < 0.6 else Network.NETWORK_X
        audience = int(min(50_000, max(50, rnd.lognormvariate(mu, sigma))))
        key = advocate.advocate_id.encode()
        yield (
            SHARE_MADE.name,
            key,
            share_made(
                seq, at, item, advocate, network, audience, rnd.random() < 0.5, published[item]
            ).SerializeToString(),
        )
        expected = per_share * audience / mean_audience
        for k in range(int(expected + rnd.random())):
            kind = kinds[bisect.bisect_left(kind_cum, rnd.random() * kind_cum[-1])]
            yield (
                ENGAGEMENT_OBSERVED.name,
                key,
                engagement_observed(
                    seq,
                    k,
                    at + timedelta(minutes=1 + k % 600),
                    item,
                    advocate,
                    network,
                    kind,
                    rnd.randrange(1, 4),
                    f"fp{rnd.randrange(10_000)}",
                ).SerializeToString(),
            )


@dataclass
class Produced:
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.counts.values())


async def produce(bootstrap: str, prefix: str, size: Size) -> Produced:
    """Everything onto the real topics, as fast as one batching producer goes."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=50,
        max_batch_size=512 * 1024,
        compression_type=None,
    )
    await producer.start()
    out = Produced()
    started = time.perf_counter()
    try:
        pending: list[asyncio.Future] = []
        for topic, key, value in generate(size):
            pending.append(await producer.send(prefix + topic, value, key=key))
            out.counts[topic] = out.counts.get(topic, 0) + 1
            if len(pending) >= 20_000:  # bounded memory: wait for a chunk's acks
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    out.seconds = time.perf_counter() - started
    return out


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids += [int(c) for c in f.read().split()]
    except OSError:
        return []
    return kids + [g for k in kids for g in _children(k)]


def _status_kib(pid: int, field_name: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class RssWatch:
    """Peak resident memory of a process tree: each process's own high-water mark (VmHWM)."""

    pid: int
    peak_kib: dict[int, int] = field(default_factory=dict)

    def sample(self) -> None:
        for p in [self.pid, *_children(self.pid)]:
            hwm = _status_kib(p, "VmHWM")
            if hwm:
                self.peak_kib[p] = max(self.peak_kib.get(p, 0), hwm)

    @property
    def peak_mib(self) -> float:
        """The main process's peak plus each child's peak (an upper bound on the tree's peak)."""
        return sum(self.peak_kib.values()) / 1024


async def watch_rss(watches: dict[str, RssWatch], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for w in watches.values():
            w.sample()
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except TimeoutError:
            pass


async def drained(bootstrap: str, group: str, topic: str, limit_s: float) -> None:
    """Waits until `group` committed everything on `topic` (the rewards early-sharer bonuses)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await consumer.start()
    await admin.start()
    tps = [TopicPartition(topic, p) for p in range(INTERNAL_PARTITIONS)]
    try:
        deadline = time.monotonic() + limit_s
        while True:
            ends = await consumer.end_offsets(tps)
            done = await admin.list_consumer_group_offsets(group)
            if all(tp in done and done[tp].offset >= ends[tp] for tp in tps if ends[tp] > 0):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{group}: {topic} not drained within {limit_s:.0f} s")
            await asyncio.sleep(0.5)
    finally:
        await consumer.stop()
        await admin.close()


@dataclass
class Latencies:
    """GetLeaderboard call times (ms) per board, in call order: the first call of each board is
    its cold call (a cache, if any, is empty), the others are the warm ones."""

    by_query: dict[str, list[float]]
    rows: dict[str, int]
    errors: dict[str, str] = field(default_factory=dict)  # board -> the last error (calls that failed)
    failed: int = 0

    @property
    def cold_ms(self) -> dict[str, float]:
        return {name: xs[0] for name, xs in self.by_query.items() if xs}

    @property
    def all_ms(self) -> list[float]:
        return sorted(x for xs in self.by_query.values() for x in xs)

    @property
    def warm_ms(self) -> list[float]:
        return sorted(x for xs in self.by_query.values() for x in xs[1:])

    def summary(self) -> dict[str, object]:
        warm = self.warm_ms
        return {
            "calls": sum(len(xs) for xs in self.by_query.values()),
            "failed_calls": self.failed,
            "errors": self.errors,
            "warm_p50": round(statistics.median(warm), 2) if warm else None,
            "warm_p99": round(percentile(warm, 0.99), 2) if warm else None,
            "by_board": {
                name: {
                    "calls": len(xs),
                    "cold": round(xs[0], 2) if xs else None,
                    "warm_p50": round(statistics.median(xs[1:]), 2) if xs[1:] else None,
                    "warm_p99": round(percentile(xs[1:], 0.99), 2) if xs[1:] else None,
                    "rows": self.rows.get(name, 0),
                }
                for name, xs in self.by_query.items()
            },
        }


def percentile(values: list[float], q: float) -> float:
    xs = sorted(values)
    return xs[min(len(xs) - 1, int(len(xs) * q))] if xs else float("nan")


def leaderboard_queries(week_day: date) -> dict[str, rewards_pb2.GetLeaderboardRequest]:
    day = week_day.isoformat()
    R = rewards_pb2
    return {
        "global all-time": R.GetLeaderboardRequest(board=R.BOARD_GLOBAL, period=R.PERIOD_ALL_TIME, limit=100),
        "global week": R.GetLeaderboardRequest(board=R.BOARD_GLOBAL, period=R.PERIOD_WEEK, day=day, limit=100),
        "teams all-time": R.GetLeaderboardRequest(board=R.BOARD_TEAMS, period=R.PERIOD_ALL_TIME, limit=100),
        # team0 holds the keenest sharer (advocate a0): never an empty board.
        "team week": R.GetLeaderboardRequest(
            board=R.BOARD_TEAM, period=R.PERIOD_WEEK, day=day, team="team0", limit=100
        ),
    }


async def query_leaderboards(platform: Platform, queries: int, seconds: float, min_rounds: int = 2) -> Latencies:
    """Cycles through the boards, one call at a time, until `queries` calls or `seconds` passed
    (each board at least `min_rounds` times: a cold and a warm call by default)."""
    requests = leaderboard_queries((START + timedelta(weeks=WEEKS // 2)).date())
    lat = Latencies({name: [] for name in requests}, {})
    async with platform.aio_channel("rewards") as channel:
        stub = rewards_pb2_grpc.RewardsServiceStub(channel)
        deadline = time.monotonic() + seconds
        n = 0
        while n < min_rounds * len(requests) or (n < queries and time.monotonic() < deadline):
            for name, request in requests.items():
                n += 1
                t0 = time.perf_counter()
                try:
                    reply = await stub.GetLeaderboard(request, timeout=600)
                except grpc.aio.AioRpcError as exc:  # counted and shown, not timed
                    lat.failed += 1
                    lat.errors[name] = f"{exc.code().name}: {exc.details()}"[:200]
                    continue
                lat.by_query[name].append((time.perf_counter() - t0) * 1000)
                lat.rows[name] = len(reply.rows)
    return lat


def analytics_queries() -> dict[str, tuple[str, object]]:
    """(RPC name, request) of the analytics questions P4 times, over the generated history."""
    A = analytics_pb2
    week = (to_timestamp(START + timedelta(weeks=WEEKS // 2)), to_timestamp(START + timedelta(weeks=WEEKS // 2 + 1)))
    return {
        "program by day": ("GetStats", A.GetStatsRequest(dimension=A.DIMENSION_PROGRAM, granularity=A.GRANULARITY_DAY)),
        "team by hour, 1 week": (
            "GetStats",
            A.GetStatsRequest(
                dimension=A.DIMENSION_TEAM, key="team0", granularity=A.GRANULARITY_HOUR, start=week[0], end=week[1]
            ),
        ),
        "item all-time": (
            "GetStats",
            A.GetStatsRequest(dimension=A.DIMENSION_CONTENT, key="item0", granularity=A.GRANULARITY_ALL_TIME),
        ),
        "top 10 content by EMV, 1 week": (
            "TopContent",
            A.TopContentRequest(metric=A.TOP_METRIC_EARNED_MEDIA_VALUE, limit=10, start=week[0], end=week[1]),
        ),
        "program overview, 1 week": ("GetProgramOverview", A.GetProgramOverviewRequest(start=week[0], end=week[1])),
    }


async def query_analytics(platform: Platform, rounds: int = ANALYTICS_ROUNDS) -> dict[str, list[float]]:
    """Call times (ms) per question, `rounds` calls each, one call at a time; a failed call is
    recorded as the error's text instead of a time."""
    times: dict[str, list[float]] = {}
    async with platform.aio_channel("analytics") as channel:
        stub = analytics_pb2_grpc.AnalyticsServiceStub(channel)
        for _ in range(rounds):
            for name, (rpc, request) in analytics_queries().items():
                t0 = time.perf_counter()
                try:
                    await getattr(stub, rpc)(request, timeout=600)
                except grpc.aio.AioRpcError as exc:
                    print(f"P4: analytics {name} failed: {exc.code().name}: {exc.details()}"[:300], flush=True)
                    continue
                times.setdefault(name, []).append((time.perf_counter() - t0) * 1000)
    return times


@dataclass
class ScaleResult:
    size: Size
    produced: Produced
    rates: dict[str, float]
    rate_detail: dict[str, dict[str, float]]
    rss_mib: dict[str, float]
    cached: Latencies
    uncached: Latencies
    cache_seconds: str
    analytics_ms: dict[str, list[float]]
    restart_s: dict[str, float]  # a worker restarted on its full state: start to SERVING
    seconds: float


async def measure(
    cfg: local_stack.StackConfig,
    size: Size,
    data: Path,
    port_base: int,
    lb_queries: int = 400,
    lb_seconds: float = 20.0,
) -> ScaleResult:
    started = time.perf_counter()
    prefix = f"s{uuid.uuid4().hex[:8]}-"
    await asyncio.to_thread(provision, cfg.kafka_bootstrap, prefix)
    produced = await produce(cfg.kafka_bootstrap, prefix, size)
    print(f"P4: produced {produced.total:,} events ({produced.counts}) in {produced.seconds:.1f} s", flush=True)
    platform = _workers(cfg, prefix, data, port_base)
    stop = asyncio.Event()
    restart_s: dict[str, float] = {}
    watches: dict[str, RssWatch] = {}
    watcher: asyncio.Task[None] | None = None
    try:
        # Rates count from the workers' start (start-up and table recovery included, so a small run
        # understates the steady rate) to each group's last commit.
        launched = time.perf_counter()
        platform.start_service("rewards")
        platform.start_service("analytics")
        watches = {name: RssWatch(platform.processes[name].pid) for name in ("rewards", "analytics")}
        watcher = asyncio.create_task(watch_rss(watches, stop))
        rates = await _replayed(cfg, platform, prefix, produced.total, launched, port_base)
        # The boards as served (the rewards service's leaderboard cache as configured) ...
        cache_seconds = os.environ.get("ADVOCACY_LEADERBOARD_CACHE_SECONDS", "default")
        cached = await query_leaderboards(platform, lb_queries, lb_seconds)
        analytics_ms = await query_analytics(platform)
        stop.set()  # peak RSS: the replay and the served queries, in the same processes
        await watcher
        # ... and, as the baseline, computed on every call (cache off): the restart is timed too.
        restart_s["analytics"] = await restarted(platform, "analytics")
        platform.env["ADVOCACY_LEADERBOARD_CACHE_SECONDS"] = "0"
        try:
            restart_s["rewards"] = await restarted(platform, "rewards")
            uncached = await query_leaderboards(platform, lb_queries, lb_seconds, min_rounds=1)
        except Exception as exc:  # recorded: the figures above still count
            print(f"P4: the uncached baseline failed: {exc}"[:500], flush=True)
            uncached = Latencies({}, {}, {"restart": f"{type(exc).__name__}: {exc}"[:300]}, 1)
    finally:
        stop.set()
        if watcher is not None:
            await watcher
        platform.stop()
    return ScaleResult(
        size=size,
        produced=produced,
        rates={k: r.per_second for k, r in rates.items()},
        rate_detail={k: {"events": r.events, "seconds": round(r.seconds, 3)} for k, r in rates.items()},
        rss_mib={k: w.peak_mib for k, w in watches.items()},
        cached=cached,
        uncached=uncached,
        cache_seconds=cache_seconds,
        analytics_ms=analytics_ms,
        restart_s=restart_s,
        seconds=time.perf_counter() - started,
    )


def _workers(cfg: local_stack.StackConfig, prefix: str, data: Path, port_base: int) -> Platform:
    env = _stream_env(cfg, prefix, data / "faust")
    env["ADVOCACY_LOG_LEVEL"] = os.environ.get("BENCH_LOG_LEVEL", env["ADVOCACY_LOG_LEVEL"])
    return Platform(
        env=env,
        log_dir=data / "logs" / prefix,
        ports={
            "rewards": ServicePorts(port_base, port_base + 2),
            "analytics": ServicePorts(port_base + 1, port_base + 3),
        },
    )


async def _replayed(
    cfg: local_stack.StackConfig, platform: Platform, prefix: str, total: int, launched: float, port_base: int
) -> dict[str, Rate]:
    """Waits for the started workers to process the history: their rates, once the boards and the
    analytics documents are final."""
    for name in ("rewards", "analytics"):  # a worker that cannot start fails the run instead of stalling it
        await asyncio.to_thread(platform.wait_serving, name, 180)
    groups = {"rewards": f"{prefix}advocacy-rewards", "analytics": f"{prefix}advocacy-analytics"}
    limit_s = max(600.0, total / 50)  # a stalled worker fails the run (≥ 50 events/s expected)
    rates = await committed_progress(cfg.kafka_bootstrap, groups, prefix, total, limit_s, launched)
    # Early-sharer bonuses come back through an internal topic: the boards are final after it.
    await drained(cfg.kafka_bootstrap, groups["rewards"], prefix + EARLY_SHARERS, 600)
    # Analytics figures are final once its rollup documents caught up.
    documents = await documents_written(port_base + 3, limit_s)
    print("P4: processed; " + ", ".join(f"{k} {r.per_second:,.0f}/s" for k, r in rates.items()), flush=True)
    print(f"P4: analytics documents written {documents.seconds:.1f} s after its stream", flush=True)
    return rates


async def restarted(platform: Platform, name: str) -> float:
    """Seconds from starting a stopped worker again (its RocksDB state on disk) to SERVING, which it
    reports only after its tables recovered (only the changelogs' tail is read)."""
    platform.stop_service(name)
    began = time.perf_counter()
    platform.start_service(name)
    await asyncio.to_thread(platform.wait_serving, name, 300)
    return time.perf_counter() - began


def p4_rows(result: ScaleResult) -> list[dict[str, object]]:
    s = result.size
    raw = {
        "size": s.__dict__,
        "produced": result.produced.counts,
        "produce_seconds": round(result.produced.seconds, 1),
        "rates": {k: round(v, 1) for k, v in result.rates.items()},
        "rate_detail": result.rate_detail,
        "peak_rss_mib": {k: round(v, 1) for k, v in result.rss_mib.items()},
        "leaderboard_ms": {"cached": result.cached.summary(), "uncached": result.uncached.summary()},
        "leaderboard_cache_seconds": result.cache_seconds,
        "analytics_query_ms": {k: [round(x, 1) for x in v] for k, v in result.analytics_ms.items()},
        "restart_seconds": {k: round(v, 2) for k, v in result.restart_s.items()},
        "seconds": round(result.seconds, 1),
    }
    sized = f"{s.advocates:,} advocates, {result.produced.total:,} events"
    rows = [
        _rate_row(result, sized),
        _rss_row(result, sized),
        _leaderboard_row(result, sized),
        _analytics_row(result, sized),
        _restart_row(result, sized),
    ]
    return [{**r, "raw": raw} for r in rows]


def _rate_row(result: ScaleResult, sized: str) -> dict[str, object]:
    from bench.report import row

    pipeline = min(result.rates.values())
    return row(
        "P4 scale rate",
        f"{pipeline:,.0f} events/s (rewards {result.rates['rewards']:,.0f}/s, "
        f"analytics {result.rates['analytics']:,.0f}/s, together, start-up included; {sized})",
        "no baseline and no target in the issue",
        None,
        "-",
        None,
    )


def _rss_row(result: ScaleResult, sized: str) -> dict[str, object]:
    from bench.report import row

    worst_rss = max(result.rss_mib.values())
    return row(
        "P4 peak RSS per worker",
        f"rewards {result.rss_mib['rewards']:,.0f} MiB, analytics {result.rss_mib['analytics']:,.0f} MiB ({sized})",
        "no baseline: ratio = worst worker / 1 GiB target",
        worst_rss / RSS_TARGET_MIB,
        "< 1 GiB",
        worst_rss < RSS_TARGET_MIB,
    )


def _leaderboard_row(result: ScaleResult, sized: str) -> dict[str, object]:
    from bench.report import row

    warm, cold = result.cached.warm_ms, result.cached.cold_ms
    p99 = percentile(warm, 0.99)
    base = percentile(result.uncached.all_ms, 0.99)
    return row(
        "P4 leaderboard p99",
        f"p99 {p99:,.1f} ms, p50 {statistics.median(warm) if warm else float('nan'):,.1f} ms over "
        f"{len(warm)} warm calls, {result.cached.failed} failed; cold first call per board "
        f"{min(cold.values(), default=float('nan')):,.0f}-{max(cold.values(), default=float('nan')):,.0f} ms "
        f"({sized})",
        f"computed on every call (cache off): p99 {base:,.0f} ms over {len(result.uncached.all_ms)} calls, "
        f"{result.uncached.failed} failed; ratio = p99 / 20 ms target",
        p99 / LEADERBOARD_TARGET_MS if warm else None,
        "< 20 ms",
        bool(warm) and not result.cached.failed and p99 < LEADERBOARD_TARGET_MS,
    )


def _analytics_row(result: ScaleResult, sized: str) -> dict[str, object]:
    from bench.report import row

    answered = {name: xs for name, xs in result.analytics_ms.items() if len(xs) > 1}
    worst_cold = max((xs[0] for xs in answered.values()), default=float("nan"))
    worst_warm = max((statistics.median(xs[1:]) for xs in answered.values()), default=float("nan"))
    missing = len(analytics_queries()) - len(answered)
    return row(
        "P4 analytics queries",
        "; ".join(
            f"{name} {xs[0]:,.0f} ms cold, {statistics.median(xs[1:]):,.1f} ms warm" for name, xs in answered.items()
        )
        + f" (first call, then the median of {ANALYTICS_ROUNDS - 1} more, stats cache as configured; "
        f"{missing} questions never answered; {sized})",
        "ratio = worst cold / 1 s target",
        worst_cold / 1000 if answered else None,
        "< 1 s cold, < 20 ms warm",
        bool(answered) and not missing and worst_cold < 1000 and worst_warm < 20,
    )


def _restart_row(result: ScaleResult, sized: str) -> dict[str, object]:
    from bench.report import row

    return row(
        "P4 restart to serving",
        ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.restart_s.items())
        + f" (stopped, started again on its state, until SERVING; {sized})",
        "no baseline and no target in the issue ('within seconds')",
        None,
        "-",
        None,
    )


def run_p4(
    cfg: local_stack.StackConfig, size: Size, data: Path, port_base: int, lb_queries: int, lb_seconds: float
) -> list[dict[str, object]]:
    return p4_rows(asyncio.run(measure(cfg, size, data, port_base, lb_queries, lb_seconds)))


def main() -> None:
    import json

    from bench.report import machine_info, print_table

    default = size_from_env(FULL)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--advocates", type=int, default=default.advocates)
    parser.add_argument("--shares", type=int, default=default.shares)
    parser.add_argument("--engagements", type=int, default=default.engagements)
    parser.add_argument("--lb-queries", type=int, default=400, help="leaderboard calls at most")
    parser.add_argument("--lb-seconds", type=float, default=60.0, help="leaderboard calls for at most this long")
    args = parser.parse_args()
    size = Size(args.advocates, args.shares, args.engagements)
    offset = int(os.environ.get("ADVOCACY_TEST_PORT_OFFSET", "0"))
    data = ROOT / ".local" / "bench-scale"
    cfg = local_stack.StackConfig.from_env(
        {}, data_dir=data, kafka_port=30042 + offset, kafka_controller_port=30043 + offset, mongo_port=31069 + offset
    )
    local_stack.install(cfg)
    local_stack.start(cfg)
    print(f"P4 at {size}", flush=True)
    try:
        rows = run_p4(cfg, size, data, 26971 + offset, args.lb_queries, args.lb_seconds)
    finally:
        local_stack.stop(cfg)
    print_table(rows)
    out = data / "results.json"
    out.write_text(json.dumps({"machine": machine_info(), "results": rows}, indent=2))
    print(f"\nmachine: {machine_info()}\nresults: {out}")


if __name__ == "__main__":
    main()
