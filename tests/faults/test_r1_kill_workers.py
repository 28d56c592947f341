"""R1 (issue 8): 100,000 events through the rewards and analytics workers, each SIGKILLed 10 times
at points spread over the run; final balances, leaderboards, announcements and the program's
analytics totals must equal references computed independently from the same events.

It takes longer than `make test` should (minutes on 2 cores), so it is marked `slow` and run by
`make test-faults`. It prints its figures: events, kills, duration, events/s.
"""

from __future__ import annotations

import os

import pytest

from tests.integration.test_rewards_stream import run_history


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_r1_sigkill_rewards_and_analytics_ten_times_each(stack):
    figures = run_history(
        stack,
        total=int(os.environ.get("ADVOCACY_R1_EVENTS", "100000")),
        kills=int(os.environ.get("ADVOCACY_R1_KILLS", "10")),
        services=("rewards", "analytics"),
    )
    print(
        f"R1: events={figures['events']:.0f} kills={figures['kills']:.0f} "
        f"duration={figures['seconds']}s rate={figures['events_per_second']}/s"
    )
    assert figures["kills"] == 2 * int(os.environ.get("ADVOCACY_R1_KILLS", "10"))
