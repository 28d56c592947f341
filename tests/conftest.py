"""Session fixtures: the real local stack (Kafka + FerretDB) on test-only ports.

The servers are started once per session (they take seconds, tests take milliseconds) on
ports and a data directory of their own, so `make test` never touches the `make run` stack.
Each test gets its own topic prefix and database: isolation without restarting servers.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra import stack as local_stack
from services.common.topics import provision

ROOT = Path(__file__).resolve().parents[1]
# Shifts every port the tests use, so two checkouts can run their suites side by side.
PORT_OFFSET = int(os.environ.get("ADVOCACY_TEST_PORT_OFFSET", "0"))


def stack_config(data_dir: Path, offset: int) -> local_stack.StackConfig:
    """A test stack's profile: its data directory and its ports, shifted by `offset`."""
    return local_stack.StackConfig.from_env(
        {},
        data_dir=data_dir,
        kafka_port=29092 + offset,
        kafka_controller_port=29093 + offset,
        mongo_port=28018 + offset,
    )


@pytest.fixture(scope="session")
def stack() -> Iterator[local_stack.StackConfig]:
    cfg = stack_config(ROOT / ".local" / "test", PORT_OFFSET)
    local_stack.install(cfg)
    # Every test isolates itself by topic prefix and database, so earlier sessions' data is only
    # weight: thousands of partitions make the broker's (re)start slow.
    local_stack.reset(cfg)
    shutil.rmtree(cfg.data / "faust", ignore_errors=True)
    local_stack.start(cfg)
    yield cfg
    # Leave nothing running behind a test session.
    local_stack.stop(cfg)


@dataclass(frozen=True)
class Isolated:
    """A topic prefix and database of one test, and the env a service needs to use them."""

    prefix: str
    database: str
    stack: local_stack.StackConfig

    @property
    def env(self) -> dict[str, str]:
        return {
            "ADVOCACY_KAFKA_BOOTSTRAP": self.stack.kafka_bootstrap,
            "ADVOCACY_MONGO_URL": self.stack.mongo_url,
            "ADVOCACY_MONGO_DB": self.database,
            "ADVOCACY_TOPIC_PREFIX": self.prefix,
        }


def make_isolated(cfg: local_stack.StackConfig, letter: str = "t") -> Isolated:
    tag = uuid.uuid4().hex[:10]
    isolated = Isolated(prefix=f"{letter}{tag}-", database=f"{letter}{tag}", stack=cfg)
    provision(cfg.kafka_bootstrap, isolated.prefix)
    return isolated


@pytest.fixture
def isolated(stack: local_stack.StackConfig) -> Isolated:
    return make_isolated(stack)


FIGURES_KEY = pytest.StashKey[list[str]]()


@pytest.fixture
def figures(request, capsys) -> Callable[[str], None]:
    """Prints a measured figure now (past pytest's capture) and keeps it for the run's summary."""
    kept = request.config.stash.setdefault(FIGURES_KEY, [])
    name = request.node.name

    def report(line: str) -> None:
        kept.append(f"{name}: {line}")
        with capsys.disabled():
            print(f"\n  [{name}] {line}", file=sys.stdout, flush=True)

    return report


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    lines = config.stash.get(FIGURES_KEY, [])
    if lines:
        terminalreporter.section("test figures")
        for line in lines:
            terminalreporter.write_line(line)
