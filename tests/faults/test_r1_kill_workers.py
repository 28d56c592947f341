"""R1 (issue 8): 100,000 events through the rewards and analytics workers, each SIGKILLed 10 times
at points spread over the run; final balances, leaderboards, announcements and the program's
analytics totals must equal references computed independently from the same events.

Part of `make test` (minutes on 2 cores, about half of it the leaderboard checks, each a ledger
scan on FerretDB); `make test-faults` runs the fault suite alone. It prints its figures: events,
kills, duration, events/s, and the time of each verification phase.
"""

from __future__ import annotations

import os
import signal

import pytest

from tests.integration.test_rewards_stream import run_history


@pytest.mark.timeout(1800)
def test_r1_sigkill_rewards_and_analytics_ten_times_each(stack, figures):
    total = int(os.environ.get("ADVOCACY_R1_EVENTS", "100000"))
    kills = int(os.environ.get("ADVOCACY_R1_KILLS", "10"))
    run = run_history(
        stack,
        total=total,
        kills=kills,
        services=("rewards", "analytics"),
        produce_per_second=float(os.environ.get("ADVOCACY_R1_PRODUCE_PER_SECOND", "1000")),
        # One day's week / month / quarter / all-time boards: a second day adds only another week
        # (the history spans one month) at a ledger scan per board.
        board_days=("2026-10-12",),
    )
    figures(
        f"R1: events={run['events']:.0f} kills={len(run['kills'])} "
        f"produce to all committed {run['seconds']}s ({run['events_per_second']}/s); verification (s): "
        + ", ".join(f"{k} {v}" for k, v in run["phases"].items())
    )
    # As observed: each worker's process died of SIGKILL `kills` times, a different process
    # (pid) each time, every time mid-stream (its group had committed some but not all events),
    # and each restarted process committed more before its own kill.
    for service in ("rewards", "analytics"):
        killed = [k for k in run["kills"] if k.service == service]
        assert len(killed) == kills, (service, killed)
        assert len({k.pid for k in killed}) == kills, (service, killed)
        assert all(k.exit_code == -signal.SIGKILL for k in killed), (service, killed)
        assert all(0 < k.committed < total for k in killed), (service, killed)
        positions = [k.committed for k in killed]
        assert positions == sorted(set(positions)), (service, killed)
