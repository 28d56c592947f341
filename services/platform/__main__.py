"""`make run`: the local stack (Kafka + FerretDB), the topics, the five services and, unless
`--no-demo` (`make run DEMO=0`), a living demo company with a live terminal view.

Ctrl-C (or SIGTERM) stops the demo, the services gracefully, then the stack (unless
--keep-stack); data stays in .local/dev, so the next `make run` continues where this one stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import time

from infra import stack as local_stack
from services.common.topics import POINTS_AWARDED, provision
from services.platform.demo import say
from services.platform.supervisor import SERVICE_NAMES, Platform


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep-stack", action="store_true", help="leave Kafka and FerretDB running on exit")
    parser.add_argument("--no-demo", action="store_true", help="run the platform alone (no demo company, no view)")
    parser.add_argument("--seed", type=int, default=42, help="demo company seed")
    parser.add_argument("--advocates", type=int, default=300, help="demo advocates")
    parser.add_argument("--items", type=int, default=40, help="demo content items")
    parser.add_argument("--refresh", type=float, default=1.5, help="live view refresh, seconds")
    parser.add_argument("--newsroom-port", type=int, default=50090, help="the demo newsroom's RSS feed (HTTP)")
    parser.add_argument(
        "--newsroom-every", type=float, default=180.0, help="seconds between the demo newsroom's new stories"
    )
    return parser.parse_args()


def stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    # SIGHUP too: a closed terminal must stop the services and the stack, not orphan them.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, request_stop)
    return stop


def start_stack() -> local_stack.StackConfig:
    cfg = local_stack.StackConfig.from_env()
    try:
        local_stack.install(cfg)
        local_stack.start(cfg)
    except local_stack.StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    created = provision(cfg.kafka_bootstrap)
    print(f"topics: {len(created)} created" if created else "topics: all present")
    return cfg


def service_env(cfg: local_stack.StackConfig, args: argparse.Namespace) -> dict[str, str]:
    env = {"ADVOCACY_KAFKA_BOOTSTRAP": cfg.kafka_bootstrap, "ADVOCACY_MONGO_URL": cfg.mongo_url}
    if not args.no_demo:
        from services.demo.company import COMPANY_CHANNELS

        # The demo company's own channels: the denominator of the amplification ratio.
        env["ADVOCACY_COMPANY_CHANNEL_AUDIENCE"] = json.dumps(COMPANY_CHANNELS)
        # The demo newsroom is served on loopback: exempt that one address from the fetch guard.
        env["ADVOCACY_CONTENT_FETCH_ALLOW_HOSTS"] = f"127.0.0.1:{args.newsroom_port}"
    return env


def print_running(platform: Platform, cfg: local_stack.StackConfig, started: float) -> None:
    print(f"\nAdvocacy is running ({time.monotonic() - started:.1f} s to ready). Ctrl-C stops everything.")
    for name in SERVICE_NAMES:
        ports = platform.ports[name]
        print(f"  {name:<10} gRPC {platform.address(name):<16} metrics http://127.0.0.1:{ports.metrics}/metrics")
    print(f"  kafka      {cfg.kafka_bootstrap}\n  mongodb    {cfg.mongo_url}\n  logs       {platform.log_dir}/")
    print(
        "  tokens     every API needs one (roles admin, advocate, service), e.g.\n"
        "             export ADVOCACY_TOKEN=$(.venv/bin/advocacy admin token --role admin --sub alice)\n"
        '             grpcurl -H "authorization: Bearer $ADVOCACY_TOKEN" -plaintext '
        f"{platform.address('rewards')} advocacy.rewards.v1.RewardsService/GetRuleSet"
    )


def stop_all(platform: Platform, cfg: local_stack.StackConfig, keep_stack: bool) -> dict[str, int]:
    codes = platform.stop()
    say("services stopped: " + ", ".join(f"{n}={c}" for n, c in codes.items()))
    if not keep_stack:
        try:
            local_stack.stop(cfg)
        except OSError:  # its progress lines cannot be printed (closed terminal): stop quietly
            with contextlib.redirect_stdout(None), contextlib.redirect_stderr(None):
                local_stack.stop(cfg)
    return codes


def main() -> None:
    args = parse_args()
    stop = stop_on_signals()
    started = time.monotonic()
    cfg = start_stack()
    platform = Platform(env=service_env(cfg, args), log_dir=cfg.data / "logs")
    failed = False
    try:
        platform.start()
    except (RuntimeError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        failed = True
    else:
        print_running(platform, cfg, started)
    if not failed and not args.no_demo:
        from services.platform.demo import run_demo

        try:
            failed = not run_demo(platform, cfg.kafka_bootstrap, POINTS_AWARDED.name, args, stop, started)
        except Exception as exc:  # whatever happens in the demo, the services and the stack are stopped
            say(f"error: the demo stopped: {exc!r}")
            failed = True
    while not stop.is_set() and not failed:
        if dead := platform.exited():
            print(f"error: a service exited unexpectedly: {dead}; stopping the rest", file=sys.stderr)
            break
        stop.wait(0.5)
    codes = stop_all(platform, cfg, args.keep_stack)
    sys.exit(0 if all(c == 0 for c in codes.values()) and not failed else 1)


if __name__ == "__main__":
    main()
