"""What every benchmark prints: one row per figure, the table, and the machine it ran on."""

from __future__ import annotations

import os
import platform as host
import time


def row(name: str, value: str, baseline: str, ratio: float | None, target: str, met: bool | None) -> dict[str, object]:
    """One figure; `ratio` is None where there is neither a baseline nor a target to divide by."""
    return {
        "benchmark": name,
        "value": value,
        "baseline": baseline,
        "ratio": None if ratio is None else round(ratio, 3),
        "target": target,
        "met": met,
    }


def print_table(rows: list[dict[str, object]]) -> None:
    width = max(len(str(r["benchmark"])) for r in rows)
    print(f"\n{'benchmark':<{width}}  {'ratio':>7}  {'target':<8} met  value  |  baseline")
    for r in rows:
        met = {True: "yes", False: "NO", None: "-"}[r["met"]]  # type: ignore[index]
        ratio = "-" if r["ratio"] is None else f"{r['ratio']}x"
        print(f"{r['benchmark']:<{width}}  {ratio:>7}  {r['target']:<8} {met:<4} {r['value']}  |  {r['baseline']}")


def machine_info() -> dict[str, object]:
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    return {
        "cpus": os.cpu_count(),
        "python": host.python_version(),
        "machine": host.machine(),
        "load_average_1m_at_end": round(load, 2),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
