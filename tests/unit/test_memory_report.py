"""The memory growth report (ADVOCACY_TRACEMALLOC, services/common/memory.py): it names the line
that allocated what is still alive, and it reads the RocksDB stores' native memory."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import pytest
from faust.stores.rocksdb import RocksDBOptions

from services.common import rocksdb
from services.common.memory import TraceSettings, growth_report, rss_mib, store_memory

KEPT: list[bytes] = []


def test_report_names_the_site_that_grew() -> None:
    settings = TraceSettings(frames=4, top=5, stacks=1)
    tracemalloc.start(settings.frames)
    try:
        first = tracemalloc.take_snapshot()
        KEPT.extend(bytes(1024) for _ in range(2000))  # the growth: ~2 MiB still referenced
        report = growth_report(first, tracemalloc.take_snapshot(), settings)
    finally:
        tracemalloc.stop()
        KEPT.clear()
    top = report["top_lines"][0]  # type: ignore[index]
    assert top["site"].startswith(f"{__file__}:")
    assert top["count_diff"] >= 2000
    assert top["size_diff_kib"] >= 2000
    assert report["top_stacks"][0]["stack"][-1] == top["site"]  # type: ignore[index]


def test_settings_are_off_unless_asked() -> None:
    assert TraceSettings.from_env({}) is None
    assert TraceSettings.from_env({"ADVOCACY_TRACEMALLOC": "0"}) is None
    on = TraceSettings.from_env({"ADVOCACY_TRACEMALLOC": "1", "ADVOCACY_TRACEMALLOC_INTERVAL_SECONDS": "30"})
    assert on is not None and on.interval_seconds == 30.0


def test_rss_of_this_process() -> None:
    if not Path("/proc/self/status").exists():
        pytest.skip("no /proc")
    rss = rss_mib(os.getpid())
    assert rss is not None and 10 < rss < 4096
    assert rss_mib(2**22 + 1) is None  # beyond pid_max: no such process


def test_store_memory_sums_a_tables_partitions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rocksdb, "_budget", None)  # Faust's own options: no shared cache to report
    dbs = {p: RocksDBOptions().open(tmp_path / f"p{p}.db") for p in range(2)}
    for p, db in dbs.items():
        for i in range(1000):
            db[f"{p}-{i}".encode()] = bytes(1000)
    tables = {"states": SimpleNamespace(data=SimpleNamespace(_dbs=dbs)), "in-memory": SimpleNamespace(data={})}
    report = store_memory(tables)
    assert list(report) == ["states"]  # a store without RocksDB databases is left out
    states = report["states"]
    assert isinstance(states, dict) and states["dbs"] == 2
    assert 1.9 <= states["memtables_mib"] < 8  # 2 x 1000 x 1 kB written, unflushed
