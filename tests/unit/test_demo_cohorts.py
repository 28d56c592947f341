"""The live view's compact cohort table (issue 23): one row per enrolment month, retention by month since."""

from __future__ import annotations

from advocacy.analytics.v1 import analytics_pb2
from rich.console import Console

from services.demo.view import COHORT_MONTHS, Snapshot, render


def test_the_live_view_shows_the_cohort_triangle() -> None:
    health = analytics_pb2.ProgramHealth()
    row = health.cohorts.add(
        month="2026-10", enrolled=12, shared=9, retained=[5, 7, 6], retention=[5 / 12, 7 / 12, 0.5]
    )
    row.median_days_to_first_share = 3
    health.cohorts.add(month="2026-12", enrolled=4, shared=0, retained=[0], retention=[0.0])
    console = Console(width=140, record=True)
    console.print(render(Snapshot(health=health), "demo", {}))
    text = console.export_text()
    assert "Cohorts (retention by enrolment month)" in text
    assert f"M+{COHORT_MONTHS - 1}" in text
    lines = {line.split()[1]: line for line in text.splitlines() if "2026-1" in line}
    assert lines["2026-10"].split()[2:9] == ["12", "9", "3", "42%", "58%", "50%", "┃"]
    assert lines["2026-12"].split()[2:7] == ["4", "0", "—", "0%", "┃"]
