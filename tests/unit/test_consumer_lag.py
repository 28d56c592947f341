from faust.types import TP

from services.common.stream import consumer_lag

A, B, C = TP("share-made", 0), TP("share-made", 1), TP("advocate-changed", 0)


def test_lag_counts_from_the_committed_offset_or_else_from_the_start_of_the_log():
    ends = {A: 120, B: 40, C: 760}
    # B: the group never committed; its log starts at 30 (older messages deleted by retention).
    assert consumer_lag(ends, {A: 100, B: None, C: 760}, {B: 30}) == {A: 20, B: 10, C: 0}


def test_an_empty_partition_or_an_unknown_end_is_no_lag():
    assert consumer_lag({A: None, B: 0}, {}, {A: None, B: 0}) == {A: 0, B: 0}
