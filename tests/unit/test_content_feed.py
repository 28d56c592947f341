"""Targeting, ranking and page tokens of the personal feed, the scheduler's due rule, and the
refusal to approve or publish an item past its expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.content.domain import feed
from services.content.domain.lifecycle import Action, Status
from services.content.domain.schedule import AlreadyExpired, due_action, publish_is_scheduled, refuse_if_expired

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def viewer(**overrides) -> feed.Viewer:
    base = dict(
        advocate_id="a1",
        team="Sales",
        location="Helsinki",
        language="fi",
        role="engineer",
        interests=("AI", "sustainability"),
    )
    base.update(overrides)
    return feed.Viewer(**base)


def test_empty_audience_is_everyone():
    assert feed.in_audience({}, viewer())
    assert feed.audience_terms({})["teams"] == [feed.EVERYONE]


def test_every_dimension_must_match_case_insensitively():
    assert feed.in_audience({"teams": ["sales", "hr"], "languages": ["FI"]}, viewer())
    assert not feed.in_audience({"teams": ["hr"]}, viewer())
    assert not feed.in_audience({"teams": ["sales"], "locations": ["Berlin"]}, viewer())
    assert not feed.in_audience({"roles": ["leader"]}, viewer(role=""))


def test_interest_overlap_ranks_before_freshness_within_the_half_life():
    v = viewer()
    old_match = feed.rank("old", ["ai"], T0, v)
    new_plain = feed.rank("new", ["cooking"], T0 + timedelta(days=3), v)
    assert old_match.matched == ("ai",)
    assert sorted([new_plain, old_match], key=feed.Ranked.sort_key)[0].content_id == "old"
    # One matched interest is worth exactly one half-life of age.
    much_newer = feed.rank("newer", ["cooking"], T0 + timedelta(days=8), v)
    assert sorted([old_match, much_newer], key=feed.Ranked.sort_key)[0].content_id == "newer"


def test_ties_break_on_content_id():
    v = viewer()
    ranked = [feed.rank(cid, [], T0, v) for cid in ("b", "c", "a")]
    assert [r.content_id for r in sorted(ranked, key=feed.Ranked.sort_key)] == ["a", "b", "c"]


@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 10_000_000)),
        min_size=0,
        max_size=40,
    ),
    st.integers(1, 7),
)
def test_pages_cover_every_item_once_in_rank_order(specs, size):
    v = viewer(interests=("t0", "t1", "t2"))
    ranked = [
        feed.rank(f"c{i:03d}", [f"t{j}" for j in range(m)], T0 + timedelta(seconds=s), v)
        for i, (m, s) in enumerate(specs)
    ]
    seen: list[str] = []
    after = None
    while True:
        page, token = feed.page(ranked, size, after)
        seen.extend(r.content_id for r in page)
        if not token:
            break
        after = feed.decode_token(token)
    assert seen == [r.content_id for r in sorted(ranked, key=feed.Ranked.sort_key)]


def test_a_new_item_between_pages_neither_repeats_nor_shifts_earlier_pages():
    v = viewer()
    ranked = [feed.rank(f"c{i}", [], T0 + timedelta(hours=i), v) for i in range(5)]
    first, token = feed.page(ranked, 2, None)
    newest = feed.rank("fresh", ["ai"], T0 + timedelta(days=1), v)
    second, _ = feed.page([*ranked, newest], 2, feed.decode_token(token))
    assert {r.content_id for r in first}.isdisjoint(r.content_id for r in second)
    assert [r.content_id for r in second] == ["c2", "c1"]


@pytest.mark.parametrize("token", ["nope", "", "W10=", "WzEsIDIsIDNd"])
def test_foreign_tokens_are_refused(token):
    with pytest.raises(feed.InvalidPageToken):
        feed.decode_token(token)


def test_due_actions():
    now = T0
    past, future = now - timedelta(seconds=1), now + timedelta(hours=1)
    assert due_action(Status.APPROVED, past, None, now) is Action.PUBLISH
    assert due_action(Status.APPROVED, future, None, now) is None
    assert due_action(Status.APPROVED, None, future, now) is None  # no schedule: only an explicit Publish
    # Past its expiry an approved item can no longer be published (both times passed while down, or
    # never published by hand): it expires without being published.
    assert due_action(Status.APPROVED, past, past, now) is Action.EXPIRE
    assert due_action(Status.APPROVED, None, past, now) is Action.EXPIRE
    assert due_action(Status.PUBLISHED, past, past, now) is Action.EXPIRE
    assert due_action(Status.PUBLISHED, past, future, now) is None
    assert due_action(Status.IN_REVIEW, past, None, now) is None
    assert publish_is_scheduled(future, now) and not publish_is_scheduled(past, now)
    assert not publish_is_scheduled(None, now)


def test_an_item_past_its_expiry_can_be_neither_approved_nor_published():
    now = T0
    for action in (Action.APPROVE, Action.PUBLISH):
        with pytest.raises(AlreadyExpired) as err:
            refuse_if_expired(action, now, now)  # expiring this very instant counts as expired
        assert (
            str(err.value)
            == f"cannot {action.value} an item that expired at 2026-11-01T00:00:00+00:00 (its expires_at has passed)"
        )
        refuse_if_expired(action, now + timedelta(microseconds=1), now)
        refuse_if_expired(action, None, now)
    # Taking it out of circulation stays possible.
    refuse_if_expired(Action.ARCHIVE, now - timedelta(days=1), now)
