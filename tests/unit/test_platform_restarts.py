"""`make run`'s supervisor starts a service that crashed while starting again (as Kubernetes would
restart its pod), a bounded number of times, keeping every crash for the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.platform.supervisor import Platform, ServiceCrashed, ServicePorts


class Scripted(Platform):
    """Starts nothing: each wait for readiness crashes while `crashes` lasts, then serves."""

    crashes = 0
    starts = 0

    def start_service(self, name: str) -> None:
        self.starts += 1
        self.processes[name] = None  # type: ignore[assignment]

    def wait_serving(self, name: str, timeout: float = 90.0) -> None:
        if self.crashes:
            self.crashes -= 1
            raise ServiceCrashed(f"{name} exited with 1 while starting")


def platform(tmp_path: Path, crashes: int) -> Scripted:
    p = Scripted(env={}, log_dir=tmp_path, ports={"share": ServicePorts(1, 2)})
    p.crashes = crashes
    return p


def test_a_crash_while_starting_starts_the_service_again(tmp_path: Path):
    p = platform(tmp_path, crashes=1)
    p.start(restarts=2)
    assert p.starts == 2 and len(p.startup_crashes) == 1 and "share" in p.processes


def test_the_crash_after_the_last_restart_is_raised(tmp_path: Path):
    p = platform(tmp_path, crashes=5)
    with pytest.raises(ServiceCrashed):
        p.start(restarts=1)
    assert p.starts == 2 and len(p.startup_crashes) == 2
    assert "share" in p.processes  # still known, so stopping the platform reaps it
