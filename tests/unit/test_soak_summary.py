"""`make soak`'s verdict (bench/soak.py): the growth after warm-up is the least-squares slope of
the samples taken after it, judged against the flatness threshold."""

from __future__ import annotations

import random

import pytest

from bench.soak import FLAT_MIB_PER_MINUTE, Series, slope, summarize


def test_slope_of_a_noisy_line() -> None:
    rng = random.Random(3)
    points = [(t / 12, 120 + 0.4 * t / 12 + rng.uniform(-1, 1)) for t in range(12 * 20)]
    rate = slope(points)
    assert rate is not None and abs(rate - 0.4) < 0.05
    assert slope(points[:1]) is None
    assert slope([(1.0, 5.0), (1.0, 6.0)]) is None


def test_warm_up_growth_does_not_count() -> None:
    # Steep while memtables and caches fill (first 10 minutes), flat after.
    samples = [(t / 12, 100 + min(t / 12, 10) * 3) for t in range(12 * 30)]
    row = summarize("rewards", Series(1, None, samples), warmup_end=10, threshold=FLAT_MIB_PER_MINUTE)
    assert row["flat"] is True
    assert row["rss_at_warmup_end_mib"] == 130 and row["rss_at_end_mib"] == 130
    leaking = [(t, 100 + 4.5 * t) for t, _ in samples]
    assert summarize("rewards", Series(1, None, leaking), 10, FLAT_MIB_PER_MINUTE)["flat"] is False


def test_a_worker_that_stopped_consuming_is_not_called_flat() -> None:
    samples = [(t / 12, 130.0) for t in range(12 * 30)]
    working = Series(1, 9000, samples, consumed=[(m, 10.0 * m) for m, _ in samples])
    row = summarize("rewards", working, 10, FLAT_MIB_PER_MINUTE)
    assert row["flat"] is True and row["stalled"] is False
    assert row["events_consumed_after_warmup"] == pytest.approx(200, abs=1)
    stalled = Series(1, 9000, samples, consumed=[(m, 10.0 * min(m, 12)) for m, _ in samples])
    row = summarize("rewards", stalled, 10, FLAT_MIB_PER_MINUTE)
    assert row["stalled"] is True and row["flat"] is None and row["last_consumed_minute"] == 12
