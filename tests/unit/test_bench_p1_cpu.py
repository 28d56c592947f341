"""P1's CPU ceiling: cores over the CPU every process spent per event, and the same without the
workers (the bound that no change in the workers' own code lifts)."""

from __future__ import annotations

import pytest

from bench.stream import P1Measured, Rate, cpu_bound


def test_the_ceiling_divides_the_cores_by_all_processes_cpu_per_event():
    measured = P1Measured(
        rates={"analytics": Rate(1000, 1.0)},
        # Per event: 400 + 100 + 300 + 200 = 1,000 µs; without the workers 500 µs.
        pipeline_cpu={"rewards": 4.0, "analytics": 1.0, "kafka": 3.0, "mongodb": 2.0},
    )
    ceiling, text = cpu_bound(measured, total=10_000, cores=2)
    assert ceiling == pytest.approx(2_000)
    assert text.startswith("CPU per event (µs): rewards 400, kafka 300, mongodb 200, analytics 100;")
    assert "at most 2,000 events/s, 4,000/s with the workers' own CPU at zero" in text
