"""`make run`: the local stack (Kafka + FerretDB), the topics and the four services.

Ctrl-C (or SIGTERM) stops the services gracefully, then the stack; data stays in .local/dev,
so the next `make run` continues where this one stopped.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

from infra import stack as local_stack
from services.common.topics import provision
from services.platform.supervisor import SERVICE_NAMES, Platform


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep-stack", action="store_true", help="leave Kafka and FerretDB running on exit")
    args = parser.parse_args()

    stop = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    started = time.monotonic()
    cfg = local_stack.StackConfig.from_env()
    try:
        local_stack.install(cfg)
        local_stack.start(cfg)
    except local_stack.StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    created = provision(cfg.kafka_bootstrap)
    print(f"topics: {len(created)} created" if created else "topics: all present")

    platform = Platform(
        env={"ADVOCACY_KAFKA_BOOTSTRAP": cfg.kafka_bootstrap, "ADVOCACY_MONGO_URL": cfg.mongo_url},
        log_dir=cfg.data / "logs",
    )
    try:
        platform.start()
    except (RuntimeError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        stop = True
    else:
        print(f"\nAdvocacy is running ({time.monotonic() - started:.1f} s to ready). Ctrl-C stops everything.")
        for name in SERVICE_NAMES:
            ports = platform.ports[name]
            print(f"  {name:<10} gRPC {platform.address(name):<16} metrics http://127.0.0.1:{ports.metrics}/metrics")
        print(f"  kafka      {cfg.kafka_bootstrap}\n  mongodb    {cfg.mongo_url}\n  logs       {platform.log_dir}/")
        print(
            "  tokens     every API needs one (roles admin, advocate, service), e.g.\n"
            "             export ADVOCACY_TOKEN=$(.venv/bin/python -m services.common.auth token "
            "--role admin --sub alice)\n"
            '             grpcurl -H "authorization: Bearer $ADVOCACY_TOKEN" -plaintext '
            f"{platform.address('rewards')} advocacy.rewards.v1.RewardsService/GetRuleSet"
        )
    while not stop:
        if dead := platform.exited():
            print(f"error: a service exited unexpectedly: {dead}; stopping the rest", file=sys.stderr)
            break
        time.sleep(0.5)
    codes = platform.stop()
    print("services stopped: " + ", ".join(f"{n}={c}" for n, c in codes.items()))
    if not args.keep_stack:
        local_stack.stop(cfg)
    sys.exit(0 if all(c == 0 for c in codes.values()) else 1)


if __name__ == "__main__":
    main()
