"""Fault tests: real processes on a stack of their own.

Stopping the broker or the database of the session's shared stack would break every other test
running in the same pytest session, so the fault tests get their own Kafka + FerretDB (their own
ports, shifted by ADVOCACY_TEST_PORT_OFFSET + 50, and their own data directory) and their own
platform processes. Each test reports its figures through `figures` (tests/conftest.py), which
prints them at once (even without `-s`) and again in the run's terminal summary.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from infra import stack as local_stack
from services.platform.supervisor import Platform
from tests.conftest import PORT_OFFSET, ROOT, make_isolated, stack_config
from tests.e2e.conftest import Clients, connect, make_platform, running

# Inside this checkout's port block, away from the shared test stack's ports.
FAULT_OFFSET = PORT_OFFSET + 50
FAULT_DATA = ROOT / ".local" / "test-faults"


@pytest.fixture(scope="package")
def fault_stack() -> Iterator[local_stack.StackConfig]:
    shutil.rmtree(FAULT_DATA, ignore_errors=True)  # a fresh cluster: figures never depend on old data
    cfg = stack_config(FAULT_DATA, FAULT_OFFSET)
    local_stack.install(cfg)
    local_stack.start(cfg)
    yield cfg
    local_stack.stop(cfg)


def fault_platform(cfg: local_stack.StackConfig) -> Platform:
    platform = make_platform(make_isolated(cfg, letter="f"), offset=FAULT_OFFSET, data_root=FAULT_DATA)
    # The Faust workers commit every second (default 2.8 s): R4 times its runs until every consumer
    # group committed past them, and a coarse commit step would blur that time.
    platform.env["ADVOCACY_BROKER_COMMIT_INTERVAL_SECONDS"] = "1.0"
    # The fault suite measures the event pipeline (rewards, analytics, content's views): notify
    # would add its own consumer group (its DLQ copies, its commits in R4's run times) and fan every
    # published item out to every advocate. Its outages are tested in test_notify_service.py.
    del platform.ports["notify"]
    return platform


# One platform for the fault tests (starting one takes 20-60 s on a loaded 2-core machine); each
# test leaves it as it found it (the broker or database back, the services ready again).
@pytest.fixture(scope="package")
def fault_platform_running(fault_stack) -> Iterator[Platform]:
    yield from running(fault_platform(fault_stack))


@pytest.fixture(scope="package")
def fault_clients(fault_platform_running: Platform) -> Iterator[Clients]:
    clients = connect(fault_platform_running)
    yield clients
    clients.close()
