"""`make soak`'s verdict (bench/soak.py): the growth after warm-up is the least-squares slope of
the samples taken after it, judged against the flatness threshold."""

from __future__ import annotations

import random

import pytest

from bench.soak import (
    CACHE_CAPACITY,
    CACHE_USAGE,
    CONSUMED,
    FLAT_MIB_PER_MINUTE,
    MIB,
    Series,
    parse_metrics,
    print_summary,
    record_metrics,
    slope,
    summarize,
)

MINUTES = [t / 12 for t in range(12 * 30)]  # a 30-minute soak sampled every 5 s


def filling(minute: float) -> float:
    """A 64 MiB block cache filling at 3 MiB/min until minute 20 (after the warm-up), then full."""
    return min(3.0 * minute, 60.0)


def worker(rss: list[float], cache: list[float]) -> Series:
    return Series(
        1,
        9000,
        list(zip(MINUTES, rss, strict=True)),
        cache=list(zip(MINUTES, cache, strict=True)),
        cache_capacity_mib=64,
    )


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


def test_a_filling_cache_is_not_called_growth() -> None:
    cache = [filling(m) for m in MINUTES]
    row = summarize("rewards", worker([100 + c for c in cache], cache), 10, FLAT_MIB_PER_MINUTE)
    assert row["growth_mib_per_minute"] > 1  # type: ignore[operator]  # the raw RSS still shows the cache filling
    assert row["growth_without_cache_mib_per_minute"] == pytest.approx(0, abs=0.001)
    assert row["flat"] is True and row["judged_on"] == "rss-cache"
    assert (row["cache_at_warmup_end_mib"], row["cache_at_end_mib"], row["cache_capacity_mib"]) == (30, 60, 64)


def test_a_leak_beside_a_filling_cache_is_still_growth() -> None:
    cache = [filling(m) for m in MINUTES]
    leaking = [100 + c + 0.5 * m for m, c in zip(MINUTES, cache, strict=True)]
    row = summarize("rewards", worker(leaking, cache), 10, FLAT_MIB_PER_MINUTE)
    assert row["growth_without_cache_mib_per_minute"] == pytest.approx(0.5, abs=0.01)
    assert row["flat"] is False


def test_a_process_without_a_cache_is_judged_on_its_rss() -> None:
    row = summarize("notify", Series(1, None, [(m, 100 + 0.3 * m) for m in MINUTES]), 10, FLAT_MIB_PER_MINUTE)
    assert row["judged_on"] == "rss" and row["growth_without_cache_mib_per_minute"] is None
    assert row["cache_capacity_mib"] is None and row["flat"] is False


def test_cache_figures_come_from_the_workers_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    text = (
        "# HELP advocacy_events_consumed_total Events processed\n"
        f'{CONSUMED}{{topic="share-made"}} 7.0\n{CONSUMED}{{topic="click-recorded"}} 5.0\n'
        f"{CACHE_USAGE} {40 * MIB}.0\n{CACHE_CAPACITY} {64 * MIB}.0\n"
    )
    series = Series(1, 9000, [(12.0, 150.0)])
    record_metrics(series, 12.0, parse_metrics(text))
    assert series.consumed == [(12.0, 12.0)] and series.cache == [(12.0, 40.0)] and series.cache_capacity_mib == 64
    assert series.with_cache_peak(0) == [(12.0, 150.0, 40.0)]
    row = summarize("rewards", worker([100 + filling(m) for m in MINUTES], [filling(m) for m in MINUTES]), 10, 0.25)
    print_summary([row], seeded=2.0, warmup=10, threshold=0.25)
    assert "30.0→60.0/64" in capsys.readouterr().out


def test_memory_the_cache_dropped_is_not_called_growth() -> None:
    # A compaction deletes files and the cache drops their blocks (usage 60 -> 50 MiB), but the
    # allocator keeps the memory: RSS stays. RSS minus the usage would read that as 0.5 MiB/min.
    cache = [filling(m) if m < 25 else 50.0 for m in MINUTES]
    rss = [100 + filling(m) for m in MINUTES]
    row = summarize("rewards", worker(rss, cache), 10, FLAT_MIB_PER_MINUTE)
    assert row["growth_without_cache_mib_per_minute"] == pytest.approx(0, abs=0.001)
    assert row["flat"] is True and row["cache_at_end_mib"] == 50
    leaking = [r + 0.5 * m for r, m in zip(rss, MINUTES, strict=True)]
    assert summarize("rewards", worker(leaking, cache), 10, FLAT_MIB_PER_MINUTE)["flat"] is False


def test_the_allocators_overhead_on_a_filling_cache_is_not_called_growth() -> None:
    # A MiB charged to the cache took 1.5 MiB of RSS (run of 2026-12-07): RSS minus the cache
    # rises while it fills (here 0.75 MiB/min over the steady part) and stops with it.
    cache = [filling(m) for m in MINUTES]
    row = summarize("rewards", worker([100 + 1.5 * c for c in cache], cache), 10, FLAT_MIB_PER_MINUTE)
    assert row["growth_without_cache_mib_per_minute"] == pytest.approx(0, abs=0.001)
    assert row["rss_per_cache_mib"] == pytest.approx(1.5) and row["flat"] is True
    leaking = [100 + 1.5 * c + 0.5 * m for m, c in zip(MINUTES, cache, strict=True)]
    row = summarize("rewards", worker(leaking, cache), 10, FLAT_MIB_PER_MINUTE)
    assert row["growth_without_cache_mib_per_minute"] == pytest.approx(0.5, abs=0.01) and row["flat"] is False


def test_a_cache_filling_all_the_while_cannot_excuse_growth() -> None:
    # Minutes and cache peak move together: the fit cannot tell the overhead from a leak, so the
    # verdict is on RSS minus the cache, which counts the overhead as growth.
    cache = [1.5 * m for m in MINUTES]
    row = summarize("rewards", worker([100 + 1.5 * c for c in cache], cache), 10, FLAT_MIB_PER_MINUTE)
    assert row["rss_per_cache_mib"] is None
    assert row["growth_without_cache_mib_per_minute"] == pytest.approx(0.75, abs=0.01) and row["flat"] is False
