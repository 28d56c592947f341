"""P2: end-to-end latency, RecordShare accepted -> points visible via GetBalance, under an
open-loop arrival rate (requests are sent on a fixed schedule whether or not earlier ones have
answered, as independent users would).

Most arrivals are background shares by a pool of advocates (few share a lot: Zipf-like). Every
`rate / PROBE_RATE`-th arrival is a *probe*: the first share of a fresh advocate, so it earns
points for sure (no cap, no repeat rule); after RecordShare answers, the bench waits for the
probe's `points-awarded` event and then polls GetBalance (every 5 ms at first) until the balance
is positive; an idle probe polls every 3 ms from the reply on. Latency = first positive balance
seen - RecordShare reply received.

The baseline, measured in the same run: the same probe with the platform otherwise idle, split
into its hops by the records' timestamps (RecordShare reply -> `share-made` -> `points-awarded` ->
`rewards-accounts` -> GetBalance shows it), and again with the share's other consumers
(analytics, notify, content) paused: on two cores their work on the same share competes with the
award path, and the pause measures by how much.
Runs at the target rate (1,000/s), and finds the sustained rate by stepping the offered rate up
(doubling from `FIRST_STEP_RATE`) until a step's probe p99 passes 250 ms or the step is not
sustained (the accepted rate falls behind the offered one, or a request waits a second for its
answer): the sustained rate is the last step before that. `BENCH_FULL=1` measures a full minute
per step; the default is short so the whole `make bench` stays within its budget.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import cast

import grpc
from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.content.v1 import content_pb2, content_pb2_grpc
from advocacy.rewards.v1 import rewards_pb2, rewards_pb2_grpc
from advocacy.share.v1 import share_pb2, share_pb2_grpc
from aiokafka import AIOKafkaConsumer

from services.common.topics import POINTS_AWARDED, SHARE_MADE
from services.rewards.adapters.accounts import ACCOUNTS

TARGET_RATE = 1000.0
TARGET_P50_MS = 50.0
TARGET_P99_MS = 250.0
TARGET_IDLE_P50_MS = 30.0
IDLE_PROBES = 9
IDLE_POLL_SECONDS = 0.003
PAUSE_BOUND_S = 10.0  # the paused services' consumer sessions (20 s) must not expire
PROBE_RATE = 5.0  # probes per second: enough samples, little extra GetBalance load
MAX_IN_FLIGHT = 512  # beyond this the generator counts an arrival as dropped instead of queueing it
POLL_TIMEOUT_S = 20.0  # a probe whose points take longer counts as lost (the pipeline is not keeping up)
BACKGROUND_ADVOCATES = 100
# The search for the sustained rate starts here and doubles (capped at the target rate).
FIRST_STEP_RATE = 10.0
ENROL_ATTEMPTS = 120  # one a second at most, while the database is busy


def full_run() -> bool:
    return os.environ.get("BENCH_FULL", "") not in ("", "0")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


@dataclass
class StepResult:
    offered_rate: float
    seconds: float
    accepted: int = 0
    errors: int = 0
    dropped: int = 0
    accept_ms: list[float] = field(default_factory=list)
    visible_ms: list[float] = field(default_factory=list)  # probes: reply -> points visible
    probes_lost: int = 0  # probes whose points did not show within POLL_TIMEOUT_S

    @property
    def accepted_rate(self) -> float:
        return self.accepted / self.seconds

    @property
    def sustained(self) -> bool:
        return (
            self.accepted_rate >= 0.95 * self.offered_rate
            and self.dropped == 0
            and percentile(self.accept_ms, 0.99) < 1000
            and self.probes_lost == 0
        )

    def summary(self) -> str:
        return (
            f"p50 {percentile(self.visible_ms, 0.5):.0f} ms, p99 {percentile(self.visible_ms, 0.99):.0f} ms "
            f"({len(self.visible_ms)} probes, {self.probes_lost} lost) at {self.offered_rate:,.0f}/s offered, "
            f"{self.accepted_rate:,.0f}/s accepted, {self.errors} errors, {self.dropped} dropped, "
            f"RecordShare p99 {percentile(self.accept_ms, 0.99):.0f} ms, {self.seconds:.0f} s"
        )


class TopicWatch:
    """Follows a topic keyed by advocate id and keeps, per advocate, when its first record was
    written (the record's timestamp, wall clock seconds)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
        )
        self.first: dict[str, float] = {}
        self._waiting: dict[str, asyncio.Event] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        async for record in self._consumer:
            advocate_id = (record.key or b"").decode()
            self.first.setdefault(advocate_id, record.timestamp / 1000)
            if (event := self._waiting.get(advocate_id)) is not None:
                event.set()

    async def announced(self, advocate_id: str, within: float) -> bool:
        if advocate_id in self.first:
            return True
        event = self._waiting.setdefault(advocate_id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), within)
            return True
        except TimeoutError:
            return False
        finally:
            self._waiting.pop(advocate_id, None)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self._consumer.stop()


# A probe asks GetBalance only once its `points-awarded` record was seen: polling GetBalance
# alone, at a few ms intervals for many probes in flight, would load the rewards service and the
# database more than the load being measured.
AwardWatch = TopicWatch


@dataclass
class Watches:
    """The topics an idle probe's hops are read from."""

    shares: TopicWatch
    awards: TopicWatch
    accounts: TopicWatch

    @classmethod
    def of(cls, env: dict[str, str]) -> Watches:
        bootstrap, prefix = env["ADVOCACY_KAFKA_BOOTSTRAP"], env["ADVOCACY_TOPIC_PREFIX"]
        return cls(*(TopicWatch(bootstrap, prefix + t) for t in (SHARE_MADE.name, POINTS_AWARDED.name, ACCOUNTS)))

    def all(self) -> tuple[TopicWatch, ...]:
        return self.shares, self.awards, self.accounts


HOPS = ("reply->share-made", "share-made->points-awarded", "points-awarded->accounts", "accounts->GetBalance")


def hops_ms(watches: Watches, advocate_id: str, replied: float, visible: float) -> list[float] | None:
    """One probe's hops (ms, wall clock: the records' timestamps are their producers' clocks on
    this machine), or None when a watch missed a record."""
    times = [watches.shares.first.get(advocate_id), watches.awards.first.get(advocate_id)]
    times.append(watches.accounts.first.get(advocate_id))
    if None in times:
        return None
    points = [replied, *cast(list[float], times), visible]
    return [(b - a) * 1000 for a, b in itertools.pairwise(points)]


@dataclass
class IdleResult:
    visible_ms: list[float] = field(default_factory=list)
    hops: list[list[float]] = field(default_factory=list)

    def hop_medians(self) -> dict[str, float]:
        if not self.hops:
            return {}
        return {h: round(statistics.median(v[i] for v in self.hops), 1) for i, h in enumerate(HOPS)}

    def summary(self) -> str:
        if not self.visible_ms:
            return "no probe became visible"
        hops = ", ".join(f"{h} {ms:.0f}" for h, ms in self.hop_medians().items())
        return f"p50 {statistics.median(self.visible_ms):.0f} ms of {len(self.visible_ms)} (hop medians, ms: {hops})"


@dataclass
class Probe:
    """One probe: RecordShare ms, reply -> points visible ms (None when they did not show in
    time), and when the reply came (wall clock)."""

    advocate_id: str
    accept_ms: float
    visible_ms: float | None
    replied_at: float


class Driver:
    def __init__(
        self, share: share_pb2_grpc.ShareServiceStub, rewards: rewards_pb2_grpc.RewardsServiceStub, awards: AwardWatch
    ) -> None:
        self.share = share
        self.rewards = rewards
        self.awards = awards
        self.content_id = ""
        self.run = uuid.uuid4().hex[:8]
        self.background = [f"p2-{self.run}-bg-{i}" for i in range(BACKGROUND_ADVOCATES)]
        # Zipf-like activity: advocate k shares with weight 1/(k+1).
        self.weights = [1 / (k + 1) for k in range(BACKGROUND_ADVOCATES)]
        self.probe_pool: list[str] = []
        self.counter = 0

    async def enrol(self, advocate_ids: list[str], concurrency: int = 16) -> None:
        queue = list(advocate_ids)

        async def worker() -> None:
            while queue:
                advocate_id = queue.pop()
                request = share_pb2.EnrollAdvocateRequest(
                    advocate=share_pb2.Advocate(
                        profile=AdvocateSnapshot(advocate_id=advocate_id, team="bench"),
                        networks=[share_pb2.NetworkConnection(network=Network.NETWORK_LINKEDIN, audience_size=500)],
                    )
                )
                # P3, run before on the same platform, leaves a backlog that can keep the database
                # too busy to answer for a while; enrolling again is harmless.
                for attempt in range(ENROL_ATTEMPTS):
                    try:
                        await self.share.EnrollAdvocate(request, timeout=10)
                        break
                    except grpc.aio.AioRpcError as exc:
                        busy = exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
                        if not busy or attempt == ENROL_ATTEMPTS - 1:
                            raise
                        await asyncio.sleep(1)

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def prepare(self, content: content_pb2_grpc.ContentServiceStub, probes: int) -> None:
        item = await content.CreateContent(
            content_pb2.CreateContentRequest(item=content_pb2.ContentItem(title="P2", url="https://example.com/p2"))
        )
        for step in (content.SubmitForReview, content.Approve, content.Publish):
            item = await step(content_pb2.TransitionRequest(content_id=item.content_id))
        self.content_id = item.content_id
        self.probe_pool = [f"p2-{self.run}-probe-{i}" for i in range(probes)]
        await self.enrol(self.background + self.probe_pool)

    def record(self, advocate_id: str) -> Awaitable[share_pb2.RecordShareResponse]:
        self.counter += 1
        return self.share.RecordShare(
            share_pb2.RecordShareRequest(
                content_id=self.content_id,
                advocate_id=advocate_id,
                network=Network.NETWORK_LINKEDIN,
                message=f"in my words {self.counter}",
                idempotency_key=f"{self.run}-{self.counter}",
            ),
            timeout=10,
        )

    async def probe(self, poll_every: float | None = None) -> Probe:
        """Under load the probe asks GetBalance only once its `points-awarded` record was seen, then
        every 5 ms and slower; with `poll_every` (the idle probes: no load to add to) it asks at
        that fixed interval from the reply on, so the watch's own delay is not measured."""
        advocate_id = self.probe_pool.pop()
        sent = time.perf_counter()
        await self.record(advocate_id)
        accepted, replied_at = time.perf_counter(), time.time()
        probe = Probe(advocate_id, (accepted - sent) * 1000, None, replied_at)
        if poll_every is None and not await self.awards.announced(advocate_id, POLL_TIMEOUT_S):
            return probe
        delay = poll_every or 0.005
        while (waited := time.perf_counter() - accepted) < POLL_TIMEOUT_S:
            try:
                balance = await self.rewards.GetBalance(
                    rewards_pb2.GetBalanceRequest(advocate_id=advocate_id), timeout=POLL_TIMEOUT_S - waited
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                    raise
                break  # GetBalance itself did not answer in time: the points were not visible
            if balance.points > 0:
                probe.visible_ms = (time.perf_counter() - accepted) * 1000
                return probe
            await asyncio.sleep(delay)
            delay = poll_every or min(delay * 1.5, 0.2)
        return probe

    async def idle_baseline(self, probes: int, watches: Watches, within: float | None = None) -> IdleResult:
        """The probe with nothing else going on (one at a time), and its hops."""
        result = IdleResult()
        deadline = time.monotonic() + within if within else None
        for _ in range(probes):
            if deadline and time.monotonic() > deadline:
                break
            probe = await self.probe(poll_every=IDLE_POLL_SECONDS)
            if probe.visible_ms is None:
                continue
            result.visible_ms.append(probe.visible_ms)
            await asyncio.sleep(0.1)  # the watches may see a record after GetBalance showed it
            hops = hops_ms(watches, probe.advocate_id, probe.replied_at, probe.replied_at + probe.visible_ms / 1000)
            if hops is not None:
                result.hops.append(hops)
        return result

    async def step(self, rate: float, seconds: float) -> StepResult:
        result = StepResult(offered_rate=rate, seconds=seconds)
        loop = asyncio.get_running_loop()
        in_flight: set[asyncio.Task[None]] = set()
        probe_every = max(1, round(rate / PROBE_RATE))

        async def background() -> None:
            sent = time.perf_counter()
            try:
                await self.record(random.choices(self.background, self.weights)[0])
            except grpc.aio.AioRpcError:
                result.errors += 1
                return
            result.accepted += 1
            result.accept_ms.append((time.perf_counter() - sent) * 1000)

        async def probe() -> None:
            try:
                p = await self.probe()
            except grpc.aio.AioRpcError:
                result.errors += 1
                return
            result.accepted += 1
            result.accept_ms.append(p.accept_ms)
            if p.visible_ms is None:
                result.probes_lost += 1
            else:
                result.visible_ms.append(p.visible_ms)

        start = loop.time()
        arrivals = int(rate * seconds)
        for i in range(arrivals):
            due = start + i / rate
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            is_probe = i % probe_every == 0 and bool(self.probe_pool)
            if len(in_flight) >= MAX_IN_FLIGHT and not is_probe:  # probes always go: they are the samples
                result.dropped += 1
                continue
            task = asyncio.create_task(probe() if is_probe else background())
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if in_flight:
            await asyncio.wait(in_flight)
        return result


async def _drain(driver: Driver, within: float = 45.0) -> None:
    """Waits (a bounded time) until a probe sees its points within 2 s: earlier load has left
    the pipeline, so a step does not inherit the previous step's backlog."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and driver.probe_pool:
        try:
            ms = (await driver.probe()).visible_ms
        except grpc.aio.AioRpcError:
            continue
        if ms is not None and ms < 2000:
            return


def _say(message: str) -> None:
    print(f"P2: {message}", file=sys.stderr, flush=True)


def _row(name: str, step: StepResult, idle: list[float]) -> dict[str, object]:
    p50, p99 = percentile(step.visible_ms, 0.5), percentile(step.visible_ms, 0.99)
    idle_p50 = statistics.median(idle) if idle else float("nan")
    return {
        "benchmark": name,
        "value": step.summary(),
        "baseline": f"same probe, platform idle: p50 {idle_p50:.0f} ms ({len(idle)} probes)",
        # No ratio without latencies on both sides (e.g. no probe became visible at the target rate).
        "ratio": round(p50 / idle_p50, 3) if idle and step.visible_ms else None,
        "target": f"p50<={TARGET_P50_MS:.0f}ms p99<={TARGET_P99_MS:.0f}ms @{TARGET_RATE:,.0f}/s",
        "met": bool(step.offered_rate >= TARGET_RATE and step.sustained and p50 <= TARGET_P50_MS and p99 <= 250),
        "raw": {
            "offered_rate": step.offered_rate,
            "accepted_rate": step.accepted_rate,
            "seconds": step.seconds,
            "errors": step.errors,
            "dropped": step.dropped,
            "probes": len(step.visible_ms),
            "probes_lost": step.probes_lost,
            "visible_p50_ms": p50,
            "visible_p99_ms": p99,
            "record_share_p99_ms": percentile(step.accept_ms, 0.99),
            "idle_visible_ms": idle,
            "sustained": step.sustained,
        },
    }


def step_rates(first: float = FIRST_STEP_RATE, last: float = TARGET_RATE) -> list[float]:
    rates = [first]
    while rates[-1] < last:
        rates.append(min(last, rates[-1] * 2))
    return rates


def _within_target(step: StepResult) -> bool:
    return step.sustained and percentile(step.visible_ms, 0.99) <= TARGET_P99_MS


async def _idle_row(
    driver: Driver, watches: Watches, pause_others: Callable[[], AbstractContextManager[object]] | None
) -> tuple[IdleResult, dict[str, object]]:
    """The idle probe's row: its latency and hops, and the same with the share's other consumers
    paused (bounded: their consumer sessions must not expire)."""
    idle = await driver.idle_baseline(IDLE_PROBES, watches)
    _say(f"idle: {idle.summary()}")
    paused = IdleResult()
    if pause_others is not None:
        with pause_others():
            paused = await driver.idle_baseline(IDLE_PROBES, watches, within=PAUSE_BOUND_S)
        _say(f"idle, analytics + notify + content paused: {paused.summary()}")
    p50 = statistics.median(idle.visible_ms) if idle.visible_ms else float("nan")
    paused_p50 = statistics.median(paused.visible_ms) if paused.visible_ms else None
    return idle, {
        "benchmark": "P2 share->points latency, idle single share",
        "value": idle.summary(),
        "baseline": f"analytics + notify + content paused: {paused.summary()}",
        "ratio": round(p50 / paused_p50, 3) if paused_p50 and idle.visible_ms else None,
        "target": f"p50<={TARGET_IDLE_P50_MS:.0f}ms",
        "met": bool(idle.visible_ms) and p50 <= TARGET_IDLE_P50_MS,
        "raw": {
            "visible_ms": idle.visible_ms,
            "hop_medians_ms": idle.hop_medians(),
            "paused_visible_ms": paused.visible_ms,
            "paused_hop_medians_ms": paused.hop_medians(),
        },
    }


async def bench_p2(
    channel: Callable[[str], grpc.aio.Channel],
    env: dict[str, str],
    seconds: float | None = None,
    pause_others: Callable[[], AbstractContextManager[object]] | None = None,
    settle: Callable[[], Awaitable[str]] | None = None,
) -> list[dict[str, object]]:
    """P2 rows: the idle single share, at the target rate, and at the highest rate of the upward
    steps whose probe p99 stayed within 250 ms (sustained). `pause_others` pauses the services a
    share reaches besides share and rewards, for the idle comparison; `settle` waits until the
    platform is quiet (P3's backlog and the enrolments digested) and says how quiet."""
    seconds = seconds or (60.0 if full_run() else 8.0)
    rates = step_rates()
    watches = Watches.of(env)
    async with (
        channel("content") as cch,
        channel("share") as sch,
        channel("rewards") as rch,
    ):
        for watch in watches.all():
            await watch.start()
        driver = Driver(share_pb2_grpc.ShareServiceStub(sch), rewards_pb2_grpc.RewardsServiceStub(rch), watches.awards)
        probes_needed = int(PROBE_RATE * seconds * (len(rates) + 1) * 1.2) + 80 + 2 * IDLE_PROBES
        await driver.prepare(content_pb2_grpc.ContentServiceStub(cch), probes_needed)
        # P3's load (run before, on the same platform) can keep the database busy for minutes.
        await _drain(driver, within=240.0)
        if settle is not None:
            _say(await settle())
        idle_result, idle_row = await _idle_row(driver, watches, pause_others)
        idle = idle_result.visible_ms
        best: StepResult | None = None
        first_over: StepResult | None = None
        for rate in rates:
            await _drain(driver)
            step = await driver.step(rate, seconds)
            ok = _within_target(step)
            _say(f"{'within p99 250 ms' if ok else 'PAST p99 250 ms or not sustained'}: {step.summary()}")
            if not ok:
                first_over = step
                break
            best = step
        rows = [idle_row]
        if best is not None:
            rows.append(_row("P2 share->points latency, highest rate within p99 250 ms", best, idle))
        if first_over is not None:
            rows.append(_row("P2 share->points latency, first step past p99 250 ms", first_over, idle))
        if best is None or best.offered_rate < TARGET_RATE:
            await _drain(driver)
            at_target = await driver.step(TARGET_RATE, seconds)
            _say(f"target: {at_target.summary()}")
            rows.insert(0, _row("P2 share->points latency, target rate", at_target, idle))
        for watch in watches.all():
            await watch.stop()
        return rows
