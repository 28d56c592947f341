"""Operator tool for memory that grows: with ADVOCACY_TRACEMALLOC=1 a service traces the Python
allocations it makes once ready and logs, every ADVOCACY_TRACEMALLOC_INTERVAL_SECONDS (default 120),
the allocation sites that grew most since its first snapshot (`memory_growth`, one JSON log line).

Tracing costs CPU and memory (each traced block keeps its traceback): for diagnosis, not for
production. Only Python allocations are seen; growth of RSS without growth here is native memory
(RocksDB, grpc, the allocator's fragmentation).
"""

from __future__ import annotations

import asyncio
import os
import threading
import tracemalloc
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.common import rocksdb
from services.common.logging import get_logger

log = get_logger(__name__)

ENV = "ADVOCACY_TRACEMALLOC"
_IGNORED = (
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
    tracemalloc.Filter(False, "<unknown>"),
)


@dataclass(frozen=True)
class TraceSettings:
    interval_seconds: float = 120.0
    frames: int = 12  # depth of each allocation's traceback: the caller of a library call is in it
    top: int = 12  # sites (file:line) per report
    stacks: int = 4  # of which the biggest get their whole traceback

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TraceSettings | None:
        if env.get(ENV, "").lower() not in ("1", "true", "yes", "on"):
            return None
        return cls(
            interval_seconds=float(env.get(f"{ENV}_INTERVAL_SECONDS", cls.interval_seconds)),
            frames=int(env.get(f"{ENV}_FRAMES", cls.frames)),
            top=int(env.get(f"{ENV}_TOP", cls.top)),
        )


def rss_mib(pid: int | str = "self") -> float | None:
    """Resident set size of a process (Linux `/proc/<pid>/status` VmRSS), None when unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _site(frame: tracemalloc.Frame) -> str:
    return f"{frame.filename}:{frame.lineno}"


def growth_report(first: tracemalloc.Snapshot, now: tracemalloc.Snapshot, settings: TraceSettings) -> dict[str, object]:
    """What grew from `first` to `now`: the top sites by line, and the tracebacks of the biggest."""
    by_line = now.compare_to(first, "lineno")
    by_stack = now.compare_to(first, "traceback")
    return {
        "traced_mib": round(sum(s.size for s in now.statistics("filename")) / 2**20, 2),
        "grown_mib": round(sum(d.size_diff for d in by_line) / 2**20, 2),
        "top_lines": [
            {
                "site": _site(d.traceback[0]),
                "size_diff_kib": round(d.size_diff / 1024, 1),
                "count_diff": d.count_diff,
                "size_kib": round(d.size / 1024, 1),
            }
            for d in by_line[: settings.top]
        ],
        "top_stacks": [
            {
                "size_diff_kib": round(d.size_diff / 1024, 1),
                "count_diff": d.count_diff,
                # Oldest frame first, the allocating line last (as tracemalloc orders them).
                "stack": [_site(f) for f in d.traceback],
            }
            for d in by_stack[: settings.stacks]
        ],
    }


def _snapshot() -> tracemalloc.Snapshot:
    return tracemalloc.take_snapshot().filter_traces(_IGNORED)


def trace_allocations(env: Mapping[str, str] | None = None) -> TraceSettings | None:
    """Starts tracing when ADVOCACY_TRACEMALLOC is set (see the module docstring); returns its
    settings, or None when tracing is off."""
    settings = TraceSettings.from_env(os.environ if env is None else env)
    if settings is None:
        return None
    tracemalloc.start(settings.frames)
    stop = threading.Event()

    def report() -> None:
        first = _snapshot()
        minutes = 0.0
        while not stop.wait(settings.interval_seconds):
            minutes += settings.interval_seconds / 60
            grown = growth_report(first, _snapshot(), settings)
            log.warning("memory_growth", minutes=round(minutes, 1), rss_mib=rss_mib(), **grown)

    threading.Thread(target=report, name="tracemalloc-report", daemon=True).start()
    log.warning("tracemalloc_started", interval_seconds=settings.interval_seconds, frames=settings.frames)
    return settings


# RocksDB's native memory, which tracemalloc does not see, per store (Faust: a DB per partition).
# The block cache is one for the whole worker (services/common/rocksdb.py): reported once.
ROCKSDB_PROPERTIES = {
    "memtables_mib": "rocksdb.cur-size-all-mem-tables",
    "table_readers_mib": "rocksdb.estimate-table-readers-mem",
}


def store_memory(tables: Mapping[str, Any]) -> dict[str, object]:
    """Per Faust table with a RocksDB store, its DBs' memory summed over partitions (MiB), and
    the worker's shared block cache (memtables charged to it included)."""
    out: dict[str, object] = {}
    for name, table in tables.items():
        dbs = getattr(table.data, "_dbs", None)
        if not dbs:
            continue
        sums = dict.fromkeys(ROCKSDB_PROPERTIES, 0.0)
        for db in list(dbs.values()):
            for key, prop in ROCKSDB_PROPERTIES.items():
                sums[key] += (db.property_int_value(prop) or 0) / 2**20
        out[name] = {"dbs": len(dbs), **{k: round(v, 2) for k, v in sums.items()}}
    if (budget := rocksdb.current_budget()) is not None:
        out["shared_cache_mib"] = round(budget.cache.get_usage() / 2**20, 2)
    return out


async def report_store_memory(tables: Mapping[str, Any], interval: float, stopping: asyncio.Event) -> None:
    """Logs `store_memory` every `interval` on the worker's loop (the stores belong to it)."""
    while True:
        try:
            await asyncio.wait_for(stopping.wait(), interval)
            return
        except TimeoutError:
            log.warning("store_memory", rss_mib=rss_mib(), tables=store_memory(tables))
