"""`make bench`: runs the benchmarks on a stack of their own and prints each figure with its baseline.

Every target is a ratio measured side by side in this run, on this machine: absolute numbers
from another machine or another day are not comparable. Results also go to
`.local/bench/results.json` (machine-readable).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import cast

import aiohttp
import grpc
from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.content.v1 import content_pb2, content_pb2_grpc
from advocacy.share.v1 import share_pb2, share_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.api import bench_p2
from bench.costs import CpuMeter, FerretDbProbe
from bench.load import LoadResult, closed_loop
from bench.report import machine_info, print_table, row
from bench.scale import QUICK, run_p4, size_from_env
from bench.stream import run_p1
from infra import stack as local_stack
from services.common.auth import SERVICE
from services.common.topics import provision
from services.platform.supervisor import Platform, default_ports

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".local" / "bench"
# Shifts every port the bench uses (as ADVOCACY_TEST_PORT_OFFSET does for tests): parallel checkouts.
PORT_OFFSET = int(os.environ.get("ADVOCACY_TEST_PORT_OFFSET", "0"))
HELLO_PORT = 26999 + PORT_OFFSET
HELLO_HTTP_PORT = 26998 + PORT_OFFSET
FERRETDB_DEBUG_PORT = 26997 + PORT_OFFSET


async def _hello_baseline(
    module: str,
    port: int,
    ready: Callable[[], Awaitable[object]],
    call: Callable[[int], Awaitable[object]],
    seconds: float,
    concurrency: int,
) -> LoadResult:
    """Starts a hello-world server in its own process, waits until it answers, measures it."""
    hello = await asyncio.create_subprocess_exec(sys.executable, "-m", module, "--port", str(port))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                await ready()
                break
            except (grpc.aio.AioRpcError, aiohttp.ClientError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        return await closed_loop(call, seconds, concurrency)
    finally:
        hello.terminate()
        await hello.wait()


async def _published_item(content: content_pb2_grpc.ContentServiceStub) -> content_pb2.ContentItem:
    item = await content.CreateContent(
        content_pb2.CreateContentRequest(item=content_pb2.ContentItem(title="Bench", url="https://example.com/b"))
    )
    for step in (content.SubmitForReview, content.Approve, content.Publish):
        item = await step(content_pb2.TransitionRequest(content_id=item.content_id))
    return item


def _phase_pids(platform: Platform, cfg: local_stack.StackConfig) -> dict[str, int]:
    """Every process that serves a phase: the platform's services, Kafka, FerretDB and this client."""
    pids = {name: proc.pid for name, proc in platform.processes.items() if proc.poll() is None}
    pids.update({name: st.pid for name, st in local_stack.status(cfg).items() if st.pid is not None})
    pids["bench client"] = os.getpid()
    return pids


async def _costed(
    phase: Awaitable[LoadResult], pids: dict[str, int], probe: FerretDbProbe, seconds: float
) -> tuple[LoadResult, dict[str, object]]:
    """Runs `phase` while measuring each process's CPU, FerretDB's commands and its CPU profile."""
    meter = CpuMeter(pids)
    try:
        commands_before = probe.command_counts()
    except OSError as exc:  # a FerretDB started earlier without its debug listener
        commands_before = None
        print(f"FerretDB debug listener not reachable ({exc}): no database figures", flush=True)
    profile = None
    if commands_before is not None:
        profile = asyncio.create_task(asyncio.to_thread(probe.cpu_profile, max(1, int(seconds) - 2)))
    meter.start()
    measured = await phase
    used = meter.stop()
    done = max(measured.requests - measured.errors, 1)
    costs: dict[str, object] = {"cpu_ms_per_request": {n: 1000 * s / done for n, s in sorted(used.items())}}
    if commands_before is not None and profile is not None:
        after = probe.command_counts()
        costs["ferretdb_commands_per_request"] = {
            c: (n - commands_before.get(c, 0)) / done for c, n in sorted(after.items()) if n > commands_before.get(c, 0)
        }
        groups = probe.summarise(await profile)
        if groups:
            total = sum(groups.values()) or 1.0
            costs["ferretdb_profile_share"] = {g: v / total for g, v in sorted(groups.items(), key=lambda kv: -kv[1])}
    return measured, costs


def _print_costs(name: str, costs: dict[str, object]) -> None:
    print(f"\n{name}: CPU per accepted request, by process (ms):", flush=True)
    for label, value in cast(dict[str, float], costs["cpu_ms_per_request"]).items():
        print(f"  {label:<14} {value:8.2f}")
    for key, title, fmt in (
        ("ferretdb_commands_per_request", "FerretDB commands per accepted request (its own counters)", "{:8.2f}"),
        ("ferretdb_profile_share", "FerretDB CPU by part (its pprof profile)", "{:8.1%}"),
    ):
        if key in costs:
            print(f"{title}:")
            for label, value in cast(dict[str, float], costs[key]).items():
                print(f"  {label:<36} {fmt.format(value)}")


async def _enrolled_advocates(share: share_pb2_grpc.ShareServiceStub, count: int) -> list[str]:
    advocates = [f"bench-{i}" for i in range(count)]
    for advocate_id in advocates:
        await share.EnrollAdvocate(
            share_pb2.EnrollAdvocateRequest(
                advocate=share_pb2.Advocate(
                    profile=AdvocateSnapshot(advocate_id=advocate_id, team="bench"),
                    networks=[share_pb2.NetworkConnection(network=Network.NETWORK_LINKEDIN, audience_size=500)],
                )
            )
        )
    return advocates


async def bench_p3(
    platform: Platform, cfg: local_stack.StackConfig, seconds: float, concurrency: int
) -> list[dict[str, object]]:
    """P3: RecordShare (validation, content and advocate from memory, group-committed write with
    its outbox) vs hello-world grpc.aio; the tracked-link redirect (share from memory, click
    group-committed) vs hello-world aiohttp. Hello-world runs first, in the same run."""
    baseline = await _hello_grpc(seconds, concurrency)
    async with (
        # Authenticated like production traffic: the admin sets up, an internal app records the shares.
        platform.aio_channel("content") as cch,
        platform.aio_channel("share", role=SERVICE, subject="bench-app") as sch,
    ):
        item = await _published_item(content_pb2_grpc.ContentServiceStub(cch))
        share = share_pb2_grpc.ShareServiceStub(sch)
        advocates = await _enrolled_advocates(share, 200)
        run = uuid.uuid4().hex[:8]
        codes: list[str] = []

        async def record(i: int) -> None:
            reply = await share.RecordShare(
                share_pb2.RecordShareRequest(
                    content_id=item.content_id,
                    advocate_id=advocates[i % len(advocates)],
                    network=Network.NETWORK_LINKEDIN,
                    message="bench",
                    idempotency_key=f"{run}-{i}",
                )
            )
            if len(codes) < 1000:
                codes.append(reply.share.tracked_code)

        probe = FerretDbProbe(f"http://127.0.0.1:{FERRETDB_DEBUG_PORT}", cfg.ferretdb_bin)
        measured, costs = await _costed(
            closed_loop(record, seconds, concurrency), _phase_pids(platform, cfg), probe, seconds
        )
    _print_costs("P3 RecordShare", costs)
    ratio = measured.rate / baseline.rate
    rows = [
        {
            **row(
                "P3 RecordShare throughput",
                f"{measured.rate:,.0f}/s (p50 {measured.p50_ms:.1f} ms, "
                f"p99 {measured.p99_ms:.1f} ms, {measured.errors} errors)",
                f"hello-world grpc.aio {baseline.rate:,.0f}/s",
                ratio,
                ">= 0.5x, p99<=50ms",
                ratio >= 0.5 and measured.p99_ms <= 50,
            ),
            "raw": {"measured": measured.__dict__, "baseline": baseline.__dict__, "costs": costs},
        }
    ]
    rows.append(await bench_redirect(platform, codes, seconds, concurrency))
    return rows


async def _hello_grpc(seconds: float, concurrency: int) -> LoadResult:
    """The hello-world grpc.aio server's rate (health checks), P3's baseline."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{HELLO_PORT}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return await _hello_baseline(
            "bench.hello_server",
            HELLO_PORT,
            lambda: stub.Check(health_pb2.HealthCheckRequest(), timeout=1),
            lambda i: stub.Check(health_pb2.HealthCheckRequest()),
            seconds,
            concurrency,
        )


async def bench_redirect(platform: Platform, codes: list[str], seconds: float, concurrency: int) -> dict[str, object]:
    """Every request is a new reader (its own user agent) of one of the shares P3 recorded: each
    click is a counted first click of its window, the tracker's most expensive outcome."""
    share_http = f"http://127.0.0.1:{platform.env['ADVOCACY_HTTP_PORT']}"
    hello_http = f"http://127.0.0.1:{HELLO_HTTP_PORT}"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        def click(base: str) -> Callable[[int], Awaitable[None]]:
            async def call(i: int) -> None:
                agent = f"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0 reader-{i}"
                url = f"{base}/l/{codes[i % len(codes)]}"
                async with session.get(url, allow_redirects=False, headers={"User-Agent": agent}) as response:
                    if response.status != 302:
                        raise RuntimeError(f"{url}: HTTP {response.status}")

            return call

        async def hello_ready() -> None:
            async with session.get(f"{hello_http}/l/x", allow_redirects=False):
                pass  # any answer: it listens

        baseline = await _hello_baseline(
            "bench.hello_http", HELLO_HTTP_PORT, hello_ready, click(hello_http), seconds, concurrency
        )
        measured = await closed_loop(click(share_http), seconds, concurrency)
    ratio = measured.rate / baseline.rate
    return {
        **row(
            "P3 redirect GET /l/{code} (new reader each)",
            f"{measured.rate:,.0f}/s (p50 {measured.p50_ms:.1f} ms, "
            f"p99 {measured.p99_ms:.1f} ms, {measured.errors} errors)",
            f"hello-world aiohttp {baseline.rate:,.0f}/s",
            ratio,
            ">= 0.5x",
            ratio >= 0.5,
        ),
        "raw": {"measured": measured.__dict__, "baseline": baseline.__dict__},
    }


async def _settled(pids: dict[str, int], below_cores: float = 0.35, window: float = 2.0, within: float = 240.0) -> str:
    """Waits (bounded) until every process of the platform together uses less than `below_cores`
    over `window` seconds: an idle figure taken while earlier load is still digested is not idle."""
    start = time.monotonic()
    while True:
        meter = CpuMeter(pids)
        meter.start()
        await asyncio.sleep(window)
        cores = sum(meter.stop().values()) / window
        waited = time.monotonic() - start
        if cores < below_cores or waited >= within:
            quiet = "quiet" if cores < below_cores else "NOT quiet"
            return f"platform {quiet} after {waited:.0f} s: {cores:.2f} cores over the last {window:.0f} s"


@contextmanager
def _paused(platform: Platform, names: tuple[str, ...]) -> Iterator[None]:
    """Stops the named services' processes (SIGSTOP) for the block, then lets them go on."""
    pids = [platform.processes[n].pid for n in names]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def _stack_config() -> local_stack.StackConfig:
    """The bench's own stack, FerretDB's debug listener on (its counters and profile)."""
    return local_stack.StackConfig.from_env(
        {},
        data_dir=DATA,
        kafka_port=30092 + PORT_OFFSET,
        kafka_controller_port=30093 + PORT_OFFSET,
        mongo_port=31019 + PORT_OFFSET,
        ferretdb_debug_port=FERRETDB_DEBUG_PORT,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each measured phase")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--stream-events", type=int, default=5000, help="P1: events per contender")
    parser.add_argument(
        "--only", default="p1,p2,p3,p4", help="comma-separated benchmarks to run (default: all of p1,p2,p3,p4)"
    )
    args = parser.parse_args()
    only = set(args.only.lower().split(","))

    cfg = _stack_config()
    local_stack.install(cfg)
    local_stack.start(cfg)
    prefix = f"b{uuid.uuid4().hex[:8]}-"
    provision(cfg.kafka_bootstrap, prefix)
    platform = Platform(
        env={
            "ADVOCACY_KAFKA_BOOTSTRAP": cfg.kafka_bootstrap,
            "ADVOCACY_MONGO_URL": cfg.mongo_url,
            "ADVOCACY_MONGO_DB": prefix.rstrip("-"),
            "ADVOCACY_TOPIC_PREFIX": prefix,
            "ADVOCACY_STATE_DIR": str(DATA / "faust" / prefix),
            "ADVOCACY_LOG_LEVEL": "WARNING",
            "ADVOCACY_HTTP_PORT": str(18080 + PORT_OFFSET),
        },
        log_dir=DATA / "logs" / prefix,
        ports=default_ports(base_grpc=26051 + PORT_OFFSET, base_metrics=21201 + PORT_OFFSET),
    )
    rows: list[dict[str, object]] = []
    try:
        if only & {"p2", "p3"}:
            platform.start()
        if "p3" in only:
            rows.extend(asyncio.run(bench_p3(platform, cfg, args.seconds, args.concurrency)))
        if "p2" in only:
            others = partial(_paused, platform, ("analytics", "notify", "content"))
            settle = partial(_settled, _phase_pids(platform, cfg))
            rows.extend(asyncio.run(bench_p2(platform.aio_channel, platform.env, pause_others=others, settle=settle)))
    finally:
        platform.stop()
    try:
        if "p1" in only:
            rows.extend(run_p1(cfg, args.stream_events, DATA, 26151 + PORT_OFFSET))
        if "p4" in only:
            # P4 at a quick size (`make bench-scale` runs the full size on a stack of its own).
            size = size_from_env(QUICK)
            print(f"P4 at {size}", flush=True)
            rows.extend(run_p4(cfg, size, DATA, 26971 + PORT_OFFSET, lb_queries=200, lb_seconds=10))
    finally:
        local_stack.stop(cfg)
    print_table(rows)
    machine = machine_info()
    out = DATA / "results.json"
    out.write_text(json.dumps({"machine": machine, "results": rows}, indent=2))
    print(f"\nmachine: {machine}\nresults: {out}")


if __name__ == "__main__":
    main()
