"""P2's idle-probe hops: consecutive differences of the probe's times, in ms."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

from bench.api import HOPS, IdleResult, TopicWatch, Watches, hops_ms


def _watch(first: dict[str, float]) -> TopicWatch:
    return cast(TopicWatch, SimpleNamespace(first=first))


def test_hops_are_the_gaps_between_reply_records_and_visibility() -> None:
    watches = Watches(_watch({"a": 10.002}), _watch({"a": 10.030}), _watch({"a": 10.031}))
    hops = hops_ms(watches, "a", replied=10.000, visible=10.045)
    assert hops is not None
    assert [round(h, 3) for h in hops] == [2.0, 28.0, 1.0, 14.0]
    assert len(hops) == len(HOPS)


def test_a_record_the_watch_missed_gives_no_hops() -> None:
    watches = Watches(_watch({"a": 10.002}), _watch({}), _watch({"a": 10.031}))
    assert hops_ms(watches, "a", replied=10.0, visible=10.05) is None


def test_idle_result_reports_hop_medians() -> None:
    result = IdleResult(visible_ms=[40.0, 50.0, 60.0], hops=[[1, 20, 0, 19], [2, 30, 1, 17], [3, 25, 0, 32]])
    assert result.hop_medians() == dict(zip(HOPS, [2.0, 25.0, 0.0, 19.0], strict=True))
    assert result.summary().startswith("p50 50 ms of 3")
    assert IdleResult().summary() == "no probe became visible"
