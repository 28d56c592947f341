"""One memory budget for all of a worker's RocksDB table stores.

Faust opens a RocksDB database per table and partition, each with its own 2 GiB block cache and
up to three 64 MiB write buffers (faust/stores/rocksdb.py defaults), and a write buffer is flushed
only when full: nothing bounds the sum. Under a steady write rate the worker's memory grows
linearly, one memtable per partition filling towards 64 MiB: gigabytes across a worker's
databases before the first flush.

`bound_rocksdb_memory` (applied by `create_app`) gives every database the process opens one
shared LRU block cache and one write buffer manager that charges the memtables to that cache:
when all memtables together reach their limit RocksDB flushes the one being written, so memtables
plus cached blocks stay within the cache's capacity however many tables and partitions there are
(the bounded-memory set-up Kafka Streams documents for its RocksDB stores). Index and filter
blocks of the files on disk are not counted in it: they grow with the data, not with time.

The budget's use is exported on the process's /metrics (`advocacy_rocksdb_block_cache_*_bytes`,
read at each scrape): RSS that grows while the cache fills towards its capacity stops there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import rocksdict
from faust.stores.rocksdb import RocksDBOptions
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

MIB = 2**20


@dataclass(frozen=True)
class MemoryBudget:
    cache_bytes: int  # blocks read and memtables, together
    memtable_bytes: int  # memtables alone, the part of the cache writes may take
    cache: rocksdict.Cache
    manager: rocksdict.WriteBufferManager


_budget: MemoryBudget | None = None


def bound_rocksdb_memory(cache_mib: int, memtable_mib: int) -> MemoryBudget:
    """Makes every RocksDB store opened from now on share one budget (replacing an earlier one)."""
    global _budget
    if not 0 < memtable_mib <= cache_mib:
        raise ValueError("need 0 < memtable_mib <= cache_mib")
    cache = rocksdict.Cache(cache_mib * MIB)
    manager = rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(memtable_mib * MIB, False, cache)
    _budget = MemoryBudget(cache_mib * MIB, memtable_mib * MIB, cache, manager)
    _export_usage()
    if not getattr(RocksDBOptions, "_advocacy_bounded", False):
        faust_as_options = RocksDBOptions.as_options

        def as_options(self: RocksDBOptions) -> Any:
            options = faust_as_options(self)
            if self.use_rocksdict and _budget is not None:
                _share_budget(self, options, _budget)
            return options

        RocksDBOptions.as_options = as_options  # type: ignore[method-assign]
        RocksDBOptions._advocacy_bounded = True  # type: ignore[attr-defined]
    return _budget


def current_budget() -> MemoryBudget | None:
    return _budget


GAUGES = {
    "advocacy_rocksdb_block_cache_usage_bytes": "Bytes held in the shared RocksDB block cache: cached blocks and "
    "the memtables charged to it.",
    "advocacy_rocksdb_block_cache_pinned_usage_bytes": "Bytes of the shared RocksDB block cache pinned in use "
    "(by readers and memtables), which eviction cannot free.",
    "advocacy_rocksdb_block_cache_capacity_bytes": "Capacity of the shared RocksDB block cache "
    "(ADVOCACY_ROCKSDB_CACHE_MIB).",
    "advocacy_rocksdb_memtable_usage_bytes": "Bytes of the memtables of all the process's RocksDB stores "
    "(part of the block cache usage).",
}


class BudgetUsage(Collector):
    """The current budget's figures, read when /metrics is scraped (nothing without a budget)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        budget = _budget
        if budget is None:
            return
        values = (
            budget.cache.get_usage(),
            budget.cache.get_pinned_usage(),
            budget.cache_bytes,
            budget.manager.get_usage(),
        )
        for (name, doc), value in zip(GAUGES.items(), values, strict=True):
            yield GaugeMetricFamily(name, doc, value=value)


_collector: BudgetUsage | None = None


def _export_usage() -> None:
    # Registered once, by the processes that open stores: the API services export no such gauges.
    global _collector
    if _collector is None:
        _collector = BudgetUsage()
        REGISTRY.register(_collector)


def _share_budget(faust_options: RocksDBOptions, options: rocksdict.Options, budget: MemoryBudget) -> None:
    # Faust's table factory as built, but on the shared cache instead of a 2 GiB one of its own.
    table = rocksdict.BlockBasedOptions()
    table.set_bloom_filter(faust_options.bloom_filter_size, block_based=True)
    table.set_block_cache(budget.cache)
    table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
    options.set_block_based_table_factory(table)
    options.set_write_buffer_manager(budget.manager)
    # No single memtable may take the whole limit: writes to one busy partition flush early.
    options.set_write_buffer_size(min(faust_options.write_buffer_size, budget.memtable_bytes // 2))
