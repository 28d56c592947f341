"""P1 stream throughput: events per second through rewards + analytics, against two baselines.

The same generated `share-made` / `engagement-observed` history (few advocates share a lot, most a
little) is produced once per contender into its own topic prefix on the same broker, so every
contender starts from an identical, pre-produced backlog:

- (a) a raw aiokafka consumer loop that only decodes the protobuf events (the stack's ceiling);
- (b) a naive Faust agent (`bench.naive_worker`) that awards and aggregates one event at a time,
  one awaited database write per event;
- (c) a bare Faust agent built by `create_app` (`bench.decode_worker`) that only decodes each
  event, in the award agent's takes: what our Faust setup itself can do;
- the real rewards and analytics workers (`python -m services.rewards` / `.analytics`), running
  together, as in production.

A Faust contender's progress is its consumer group's committed offsets, sampled a few times a
second: its rate is the work committed between its first and its last commit divided by the time
between them, so process start-up and table recovery are not counted against anyone. The
pipeline's rate is the slower of rewards and analytics (each event must pass both); analytics'
includes the time until none of its rollup documents is unwritten (its gauge at 0) after.
`python -m bench.stream` runs P1 alone on a stack of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.share.v1.share_pb2 import EngagementKind, EngagementObserved, Share, ShareMade
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from google.protobuf.message import Message

from bench.costs import CpuMeter
from infra import stack as local_stack
from services.common.events import to_timestamp
from services.common.topics import ENGAGEMENT_OBSERVED, SHARE_MADE, provision
from services.platform.supervisor import Platform, ServicePorts

ROOT = Path(__file__).resolve().parents[1]
INPUTS = (SHARE_MADE.name, ENGAGEMENT_OBSERVED.name)
# Faust commits every 2.8 s by default; more often gives the progress samples a finer grain.
COMMIT_INTERVAL = "0.5"
TIMEZONES = ["Europe/Helsinki", "America/New_York", "Asia/Tokyo", "UTC"]
ENGAGEMENT_KINDS = ["CLICK", "CLICK", "IMPRESSION", "REACTION", "COMMENT", "RESHARE"]


def generate(total: int, advocates: int = 400, items: int = 100, seed: int = 9) -> list[tuple[str, bytes, Message]]:
    """[(topic name, key, event)]: shares by a Zipf-like few, each followed by its engagement."""
    rnd = random.Random(seed)
    weights = [1 / (i + 1) for i in range(advocates)]
    start = datetime(2026, 10, 1, tzinfo=UTC)
    published = [start + timedelta(hours=rnd.randrange(24 * 20)) for _ in range(items)]
    out: list[tuple[str, bytes, Message]] = []
    seq = 0
    while len(out) < total:
        a = rnd.choices(range(advocates), weights)[0]
        advocate = AdvocateSnapshot(
            advocate_id=f"a{a}",
            display_name=f"Advocate{a} Example",
            team=f"team{a % 12}",
            leader=a % 9 == 0,
            timezone=TIMEZONES[a % len(TIMEZONES)],
        )
        item = rnd.randrange(items)
        at = published[item] + timedelta(minutes=rnd.randrange(1, 60 * 72))
        seq += 1
        network = Network.NETWORK_LINKEDIN if rnd.random() < 0.6 else Network.NETWORK_X
        audience = rnd.randrange(50, 5000)
        out.append(
            (
                SHARE_MADE.name,
                advocate.advocate_id.encode(),
                share_made(seq, at, item, advocate, network, audience, rnd.random() < 0.5, published[item]),
            )
        )
        # Clicks follow audience size: about one engagement per 500 people reached.
        for k in range(min(rnd.randrange(0, 2 + audience // 500), total - len(out))):
            kind = rnd.choice(ENGAGEMENT_KINDS)
            out.append(
                (
                    ENGAGEMENT_OBSERVED.name,
                    advocate.advocate_id.encode(),
                    engagement_observed(
                        seq,
                        k,
                        at + timedelta(minutes=k + 1),
                        item,
                        advocate,
                        network,
                        EngagementKind.Value(f"ENGAGEMENT_KIND_{kind}"),
                        rnd.randrange(1, 4) if kind in ("REACTION", "IMPRESSION") else 1,
                        f"fp{rnd.randrange(50)}",
                    ),
                )
            )
    return out[:total]


def share_made(
    seq: int,
    at: datetime,
    item: int,
    advocate: AdvocateSnapshot,
    network: Network.ValueType,
    audience: int,
    personal_wording: bool,
    published_at: datetime,
) -> ShareMade:
    """Share number `seq` of a generated history (P1 and P4 generate theirs with it)."""
    return ShareMade(
        event_id=f"sh-{seq}",
        occurred_at=to_timestamp(at),
        share=Share(
            share_id=f"s{seq}",
            content_id=f"item{item}",
            advocate_id=advocate.advocate_id,
            network=network,
            message="in my words",
            audience_size=audience,
            shared_at=to_timestamp(at),
        ),
        advocate=advocate,
        personal_wording=personal_wording,
        content_published_at=to_timestamp(published_at),
    )


def engagement_observed(
    seq: int,
    k: int,
    at: datetime,
    item: int,
    advocate: AdvocateSnapshot,
    network: Network.ValueType,
    kind: EngagementKind.ValueType,
    count: int,
    actor_fingerprint: str,
) -> EngagementObserved:
    """Engagement `k` on share number `seq` of a generated history."""
    return EngagementObserved(
        event_id=f"en-{seq}-{k}",
        occurred_at=to_timestamp(at),
        share_id=f"s{seq}",
        content_id=f"item{item}",
        advocate=advocate,
        network=network,
        kind=kind,
        count=count,
        actor_fingerprint=actor_fingerprint,
    )


async def produce(bootstrap: str, prefix: str, events: list[tuple[str, bytes, Message]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=20)
    await producer.start()
    try:
        futures = [await producer.send(prefix + topic, msg.SerializeToString(), key=key) for topic, key, msg in events]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


@dataclass(frozen=True)
class Rate:
    events: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


async def raw_loop(bootstrap: str, prefix: str, total: int) -> Rate:
    """(a) Consume and decode every event, nothing else: from the consumer's start to the last record."""
    types = {prefix + SHARE_MADE.name: ShareMade, prefix + ENGAGEMENT_OBSERVED.name: EngagementObserved}
    consumer = AIOKafkaConsumer(
        *types,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        max_partition_fetch_bytes=4 << 20,
    )
    await consumer.start()
    seen, first = 0, time.perf_counter()
    try:
        while seen < total:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for tp, records in batch.items():
                decode = types[tp.topic].FromString
                for r in records:
                    decode(r.value)
                seen += len(records)
        return Rate(seen, time.perf_counter() - first)
    finally:
        await consumer.stop()


async def committed_progress(
    bootstrap: str, groups: dict[str, str], prefix: str, total: int, limit_s: float, since: float | None = None
) -> dict[str, Rate]:
    """Samples each group's committed offsets on the input topics until all reached the end.

    A rate counts from a group's first commit; with `since` (a `time.perf_counter()` value, e.g.
    when the workers were ready), from then, with nothing done."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    samples: dict[str, list[tuple[float, int]]] = {name: [] for name in groups}
    deadline = time.monotonic() + limit_s
    inputs = {prefix + t for t in INPUTS}
    try:
        while True:
            now = time.perf_counter()
            for name, group in groups.items():
                if samples[name] and samples[name][-1][1] >= total:
                    continue
                try:
                    offsets = await admin.list_consumer_group_offsets(group)
                except KafkaError:  # the group's coordinator is not known until it first joins
                    continue
                done = sum(max(m.offset, 0) for tp, m in offsets.items() if tp.topic in inputs)
                samples[name].append((now, done))
            if all(s and s[-1][1] >= total for s in samples.values()):
                break
            if time.monotonic() > deadline:
                got = {n: s[-1][1] if s else 0 for n, s in samples.items()}
                raise TimeoutError(f"stream bench: not done within {limit_s:.0f} s: {got} of {total}")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    rates = {}
    for name, points in samples.items():
        started = (since, 0) if since is not None else next((t, c) for t, c in points if c > 0)
        ended = next((t, c) for t, c in points if c >= total)
        if ended[0] <= started[0]:  # all work landed in one commit: no interval to measure
            raise RuntimeError(f"{name}: too few events to measure a rate; raise --stream-events")
        rates[name] = Rate(ended[1] - started[1], ended[0] - started[0])
    return rates


def _stream_env(cfg: local_stack.StackConfig, prefix: str, state: Path) -> dict[str, str]:
    return {
        "ADVOCACY_KAFKA_BOOTSTRAP": cfg.kafka_bootstrap,
        "ADVOCACY_MONGO_URL": cfg.mongo_url,
        "ADVOCACY_MONGO_DB": prefix.rstrip("-"),
        "ADVOCACY_TOPIC_PREFIX": prefix,
        "ADVOCACY_STATE_DIR": str(state / prefix),
        "ADVOCACY_LOG_LEVEL": "WARNING",
        "ADVOCACY_BROKER_COMMIT_INTERVAL_SECONDS": COMMIT_INTERVAL,
    }


async def _prepare(cfg: local_stack.StackConfig, events: list[tuple[str, bytes, Message]]) -> str:
    prefix = f"p{uuid.uuid4().hex[:8]}-"
    await asyncio.to_thread(provision, cfg.kafka_bootstrap, prefix)
    await produce(cfg.kafka_bootstrap, prefix, events)
    return prefix


async def _baseline(
    cfg: local_stack.StackConfig,
    data: Path,
    prefix: str,
    name: str,
    module: str,
    group: str,
    total: int,
    limit_s: float,
) -> dict[str, Rate]:
    env = {**os.environ, **_stream_env(cfg, prefix, data / "faust")}
    (data / "logs").mkdir(parents=True, exist_ok=True)
    with (data / "logs" / f"{name}-{prefix}log").open("ab") as log:
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        return await committed_progress(cfg.kafka_bootstrap, {name: group}, prefix, total, limit_s)
    finally:
        worker.terminate()
        await worker.wait()


@dataclass(frozen=True)
class P1Measured:
    rates: dict[str, Rate]
    # CPU seconds each process used while the workers did the pipeline's events (from both
    # serving until both were done, documents included): rewards, analytics, kafka, mongodb.
    pipeline_cpu: dict[str, float]


async def measure(
    cfg: local_stack.StackConfig, total: int, data: Path, port_base: int = 26151, limit_s: float = 600.0
) -> P1Measured:
    events = generate(total)
    rates: dict[str, Rate] = {}

    prefix = await _prepare(cfg, events)
    rates["raw"] = await raw_loop(cfg.kafka_bootstrap, prefix, total)

    for name, module, group in (
        ("naive", "bench.naive_worker", "bench-naive"),
        ("faust", "bench.decode_worker", "advocacy-bench-decode"),
    ):
        prefix = await _prepare(cfg, events)
        rates.update(await _baseline(cfg, data, prefix, name, module, prefix + group, total, limit_s))

    prefix = await _prepare(cfg, events)
    platform = Platform(
        env=_stream_env(cfg, prefix, data / "faust"),
        log_dir=data / "logs" / prefix,
        ports={
            "rewards": ServicePorts(port_base, port_base + 100),
            "analytics": ServicePorts(port_base + 1, port_base + 101),
        },
    )
    try:
        for name in ("rewards", "analytics"):
            platform.start_service(name)
        pids = {name: proc.pid for name, proc in platform.processes.items()}
        pids.update({name: st.pid for name, st in local_stack.status(cfg).items() if st.pid is not None})
        meter = CpuMeter(pids)
        for name in ("rewards", "analytics"):
            await asyncio.to_thread(platform.wait_serving, name, limit_s)
        meter.start()
        groups = {"rewards": f"{prefix}advocacy-rewards", "analytics": f"{prefix}advocacy-analytics"}
        rates.update(await committed_progress(cfg.kafka_bootstrap, groups, prefix, total, limit_s))
        rates["analytics documents"] = await documents_written(port_base + 101, limit_s)
        cpu = meter.stop()
    finally:
        platform.stop()
    return P1Measured(rates, cpu)


async def documents_written(metrics_port: int, limit_s: float) -> Rate:
    """How long after its stream was done the analytics worker's rollup documents (written apart
    from the batches) caught up: its `advocacy_analytics_unwritten_documents` gauge reached 0."""
    start = time.perf_counter()
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        behind = await asyncio.to_thread(_gauge, metrics_port, UNWRITTEN)
        if behind == 0:
            return Rate(0, time.perf_counter() - start)
        await asyncio.sleep(0.1)
    raise TimeoutError(f"analytics documents still behind after {limit_s:.0f} s")


UNWRITTEN = "advocacy_analytics_unwritten_documents"


def _gauge(metrics_port: int, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2) as reply:
            text = reply.read().decode()
    except OSError:
        return None
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " ")]
    return values[0] if values else None


def _pipeline(rates: dict[str, Rate], total: int) -> tuple[float, str]:
    """The pipeline's rate (the slower of rewards and analytics) and how it is printed. An event
    has passed analytics when its figures can be read: its documents written too."""
    stream, lag = rates["analytics"], rates["analytics documents"].seconds
    analytics = Rate(stream.events, stream.seconds + lag).per_second
    rewards = rates["rewards"].per_second
    value = (
        f"{min(rewards, analytics):,.0f} events/s (rewards {rewards:,.0f}/s, analytics {analytics:,.0f}/s: its "
        f"state {stream.per_second:,.0f}/s, its documents written {lag:.1f} s after; together; {total:,} events)"
    )
    return min(rewards, analytics), value


def cpu_bound(measured: P1Measured, total: int, cores: int) -> tuple[float, str]:
    """The fastest the pipeline could run on `cores` if its processes shared them perfectly: cores
    over the CPU all of them spent per event; and the same for the database and broker alone, a
    bound no change in the workers' own code can lift."""
    per_event = {name: seconds / total for name, seconds in measured.pipeline_cpu.items()}
    ceiling = cores / sum(per_event.values())
    sinks = cores / sum(v for name, v in per_event.items() if name not in ("rewards", "analytics"))
    spent = ", ".join(f"{name} {1e6 * v:,.0f}" for name, v in sorted(per_event.items(), key=lambda kv: -kv[1]))
    return ceiling, (
        f"CPU per event (µs): {spent}; on {cores} cores at most {ceiling:,.0f} events/s, "
        f"{sinks:,.0f}/s with the workers' own CPU at zero"
    )


def _ratio_row(name: str, value: str, baseline: str, ratio: float, at_least: float) -> dict[str, object]:
    from bench.report import row

    return row(name, value, baseline, ratio, f">= {at_least:g}x", ratio >= at_least)


def p1_rows(measured: P1Measured, total: int) -> list[dict[str, object]]:
    rates = measured.rates
    pipeline, value = _pipeline(rates, total)
    ceiling, spent = cpu_bound(measured, total, os.cpu_count() or 1)
    raw, naive, bare = rates["raw"].per_second, rates["naive"].per_second, rates["faust"].per_second
    rewards = rates["rewards"].per_second
    raw_rates = {
        k: {"events": r.events, "seconds": round(r.seconds, 3), "per_second": round(r.per_second, 1)}
        for k, r in rates.items()
    }
    decode = f"bare Faust decode-only agent {bare:,.0f}/s"
    rewards_value = f"rewards {rewards:,.0f} events/s ({total:,} events)"
    cpu = {name: round(seconds, 2) for name, seconds in measured.pipeline_cpu.items()}
    return [
        {**_ratio_row("P1 rewards vs bare Faust decode", rewards_value, decode, rewards / bare, 0.3), "raw": raw_rates},
        {**_ratio_row("P1 stream vs bare Faust decode", value, decode, pipeline / bare, 0.3), "raw": raw_rates},
        {**_ratio_row("P1 CPU ceiling vs bare Faust decode", spent, decode, ceiling / bare, 0.3), "cpu_seconds": cpu},
        {
            **_ratio_row("P1 stream vs raw decode", value, f"raw aiokafka decode {raw:,.0f}/s", pipeline / raw, 0.5),
            "raw": raw_rates,
        },
        {
            **_ratio_row("P1 stream vs naive Faust", value, f"naive Faust agent {naive:,.0f}/s", pipeline / naive, 3),
            "raw": raw_rates,
        },
    ]


def run_p1(cfg: local_stack.StackConfig, total: int, data: Path, port_base: int) -> list[dict[str, object]]:
    return p1_rows(asyncio.run(measure(cfg, total, data, port_base)), total)


def main() -> None:
    from bench.report import print_table

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    offset = int(os.environ.get("ADVOCACY_TEST_PORT_OFFSET", "0"))
    data = ROOT / ".local" / "bench-stream"
    cfg = local_stack.StackConfig.from_env(
        {}, data_dir=data, kafka_port=30192 + offset, kafka_controller_port=30193 + offset, mongo_port=31119 + offset
    )
    local_stack.install(cfg)
    local_stack.start(cfg)
    try:
        measured = asyncio.run(measure(cfg, args.events, data, port_base=26151 + offset))
        print({k: f"{r.per_second:,.0f}/s ({r.events} in {r.seconds:.1f} s)" for k, r in measured.rates.items()})
        print_table(p1_rows(measured, args.events))
    finally:
        local_stack.stop(cfg)


if __name__ == "__main__":
    main()
