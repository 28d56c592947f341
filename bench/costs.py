"""Where a measured phase's CPU goes: per process, and inside FerretDB by its own profile.

`CpuMeter` reads each process's user + system CPU time from /proc before and after a phase, so a
phase's cost per request is CPU seconds / requests for every process that served it (the bench
client included). `FerretDbProbe` reads FerretDB's debug listener: its command counters
(Prometheus text) and a CPU profile (Go pprof), summarised by `go tool pprof` and grouped into
the SQLite engine, BSON/JSON encoding, the wire protocol, the Go runtime and the rest.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a running process (all its threads), None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, proc(5)).
    return (int(fields[11]) + int(fields[12])) / _TICKS


class CpuMeter:
    """CPU seconds each named process used between `start()` and `stop()`."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._before: dict[str, float] = {}

    def start(self) -> None:
        self._before = {n: s for n, pid in self._pids.items() if (s := cpu_seconds(pid)) is not None}

    def stop(self) -> dict[str, float]:
        used = {}
        for name, before in self._before.items():
            after = cpu_seconds(self._pids[name])
            if after is not None:
                used[name] = after - before
        return used


# Function-name prefixes of FerretDB 1.24 (pure-Go SQLite: modernc.org) and what they do.
_GROUPS = (
    ("modernc.org/sqlite", "SQLite engine"),
    ("modernc.org/libc", "SQLite engine"),
    ("github.com/FerretDB/FerretDB/internal/backends", "FerretDB backend (SQL, documents)"),
    ("github.com/FerretDB/FerretDB/internal/handler", "FerretDB command handlers"),
    ("github.com/FerretDB/FerretDB/internal/types", "BSON/JSON encoding"),
    ("github.com/FerretDB/FerretDB/internal/bson", "BSON/JSON encoding"),
    ("github.com/FerretDB/FerretDB/internal/wire", "wire protocol"),
    ("github.com/FerretDB/FerretDB/internal/clientconn", "wire protocol"),
    ("encoding/json", "BSON/JSON encoding"),
    ("runtime.gcBgMarkWorker", "Go GC"),
    ("runtime.mallocgc", "Go allocation"),
    ("runtime.scanobject", "Go GC"),
    ("runtime.", "Go runtime (scheduler, GC, syscalls)"),
    ("syscall.", "system calls (I/O)"),
    ("internal/runtime/syscall", "system calls (I/O)"),
    ("runtime/internal/syscall", "system calls (I/O)"),
    ("net.", "network"),
    ("internal/poll", "network"),
)
_TOP_LINE = re.compile(r"^\s*([\d.]+)(\w+)\s+[\d.]+%\s+[\d.]+%\s+([\d.]+)(\w+)\s+[\d.]+%\s+(.+?)\s*$")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "mins": 60.0, "hrs": 3600.0}


def group_of(function: str) -> str:
    for prefix, group in _GROUPS:
        if function.startswith(prefix):
            return group
    return "other"


def group_profile_top(top_text: str) -> dict[str, float]:
    """Flat CPU seconds per group from `go tool pprof -top` output."""
    groups: dict[str, float] = defaultdict(float)
    for line in top_text.splitlines():
        if m := _TOP_LINE.match(line):
            groups[group_of(m.group(5))] += float(m.group(1)) * _UNIT.get(m.group(2), 0.0)
    return dict(groups)


@dataclass
class FerretDbProbe:
    """FerretDB's debug listener (`http://host:port`) and the binary that serves it."""

    base_url: str
    binary: Path

    def command_counts(self) -> dict[str, float]:
        """Requests received so far, by command (FerretDB's own counters)."""
        with urllib.request.urlopen(f"{self.base_url}/debug/metrics", timeout=5) as reply:
            text = reply.read().decode()
        counts: dict[str, float] = defaultdict(float)
        for family in text_string_to_metric_families(text):
            if family.name == "ferretdb_client_requests":
                for sample in family.samples:
                    if sample.name.endswith("_total"):
                        counts[sample.labels.get("command", "?")] += sample.value
        return dict(counts)

    def cpu_profile(self, seconds: int) -> bytes:
        """A CPU profile of the next `seconds` (blocks for that long: run it in a thread)."""
        url = f"{self.base_url}/debug/pprof/profile?seconds={seconds}"
        with urllib.request.urlopen(url, timeout=seconds + 30) as reply:
            return bytes(reply.read())

    def summarise(self, profile: bytes) -> dict[str, float] | None:
        """CPU seconds per group, or None without a Go toolchain to read the profile."""
        go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
        if go is None:
            return None
        with tempfile.NamedTemporaryFile(suffix=".pprof") as f:
            f.write(profile)
            f.flush()
            top = subprocess.run(
                [go, "tool", "pprof", "-top", "-nodecount=100000", str(self.binary), f.name],
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            ).stdout
        return group_profile_top(top)
