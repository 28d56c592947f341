"""RocksDB memory of a worker stays within one budget however many stores it opens
(services/common/rocksdb.py): the databases are opened through Faust's own `RocksDBOptions`, as a
table's store opens one per partition, and written far past the memtable limit. The budget's usage
is what the worker's /metrics shows."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from faust.stores.rocksdb import RocksDBOptions
from prometheus_client import REGISTRY, generate_latest

from services.common import rocksdb
from services.common.rocksdb import MIB, bound_rocksdb_memory

DATABASES = 8  # e.g. one table's partitions
WRITTEN_MIB = 48  # per test: several times the memtable limit below, a fraction of Faust's defaults


@pytest.fixture
def restore_faust(monkeypatch: pytest.MonkeyPatch) -> None:
    # The patch is process-wide: put Faust's own method back after each test.
    monkeypatch.setattr(RocksDBOptions, "as_options", RocksDBOptions.as_options)
    monkeypatch.delattr(RocksDBOptions, "_advocacy_bounded", raising=False)
    monkeypatch.setattr(rocksdb, "_budget", None)


def write(tmp_path: Path) -> list[object]:
    dbs = [RocksDBOptions().open(tmp_path / f"table-{p}.db") for p in range(DATABASES)]
    value = bytes(4096)
    for i in range(WRITTEN_MIB * MIB // len(value)):
        # A new key each time, as the overwritten versions of advocates' states are to a memtable.
        dbs[i % DATABASES][f"advocate-{i}".encode()] = value
    return dbs


def memtables(dbs: list[object]) -> float:
    time.sleep(1.0)  # flushes run on RocksDB's background threads
    return sum(db.property_int_value("rocksdb.cur-size-all-mem-tables") for db in dbs) / MIB  # type: ignore[attr-defined]


def test_memtables_of_every_store_stay_within_the_shared_limit(tmp_path: Path, restore_faust: None) -> None:
    budget = bound_rocksdb_memory(cache_mib=16, memtable_mib=4)
    dbs = write(tmp_path)
    # RocksDB flushes once the limit is reached; each database keeps up to about 1 MiB of arena.
    assert memtables(dbs) <= 4 + DATABASES * 1.0
    assert budget.manager.get_usage() <= (4 + DATABASES * 1.0) * MIB
    for db in dbs:
        assert db.property_int_value("rocksdb.block-cache-capacity") == 16 * MIB  # type: ignore[attr-defined]
    assert budget.cache.get_usage() <= 16 * MIB * 1.05


def test_faust_defaults_keep_every_write_in_memory(tmp_path: Path, restore_faust: None) -> None:
    # What the budget prevents: with Faust's 64 MiB write buffers nothing was flushed.
    dbs = write(tmp_path)
    assert memtables(dbs) >= WRITTEN_MIB * 0.9
    assert dbs[0].property_int_value("rocksdb.block-cache-capacity") == 2 * 1024 * MIB  # type: ignore[attr-defined]


def test_budget_needs_memtables_within_the_cache() -> None:
    with pytest.raises(ValueError):
        bound_rocksdb_memory(cache_mib=8, memtable_mib=16)


def scraped() -> dict[str, float]:
    """The process's /metrics text as Prometheus scrapes it, parsed for the RocksDB gauges."""
    text = generate_latest(REGISTRY).decode()
    return {
        name: float(value)
        for line in text.splitlines()
        if line.startswith("advocacy_rocksdb_")
        for name, value in [line.rsplit(" ", 1)]
    }


def test_cache_usage_is_exported_and_rises_with_use(tmp_path: Path, restore_faust: None) -> None:
    assert scraped() == {}  # no budget (an API service): no figures
    bound_rocksdb_memory(cache_mib=16, memtable_mib=4)
    before = scraped()
    assert before["advocacy_rocksdb_block_cache_capacity_bytes"] == 16 * MIB
    dbs = write(tmp_path)
    for db in dbs:  # reads of the flushed files fill the block cache too
        db.flush()  # type: ignore[attr-defined]
    for i in range(0, WRITTEN_MIB * MIB // 4096, 7):
        assert dbs[i % DATABASES][f"advocate-{i}".encode()] is not None  # type: ignore[index]
    after = scraped()
    usage = after["advocacy_rocksdb_block_cache_usage_bytes"]
    assert before["advocacy_rocksdb_block_cache_usage_bytes"] + MIB <= usage <= 16 * MIB * 1.05
    assert 0 <= after["advocacy_rocksdb_block_cache_pinned_usage_bytes"] <= usage
    assert 0 < after["advocacy_rocksdb_memtable_usage_bytes"] <= usage
