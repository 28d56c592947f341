from datetime import UTC, datetime, timedelta

import pytest

from services.share.domain.sharing import (
    AdvocateTraits,
    AudienceRule,
    NotShareable,
    check_shareable,
    in_audience,
    is_personal_wording,
)

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
SALES_FI = AdvocateTraits(team="sales", location="Helsinki", language="fi", role="engineer")
EVERYONE = AudienceRule(frozenset(), frozenset(), frozenset(), frozenset())


def test_empty_audience_means_everyone():
    assert in_audience(SALES_FI, EVERYONE)


def test_every_listed_dimension_must_match():
    rule = AudienceRule(frozenset({"sales"}), frozenset(), frozenset({"fi", "sv"}), frozenset())
    assert in_audience(SALES_FI, rule)
    assert not in_audience(AdvocateTraits("marketing", "Helsinki", "fi", "engineer"), rule)
    assert not in_audience(AdvocateTraits("sales", "Helsinki", "de", "engineer"), rule)


@pytest.mark.parametrize(
    ("published", "expires_at", "audience", "reason"),
    [
        (False, None, EVERYONE, "not published"),
        (True, NOW - timedelta(seconds=1), EVERYONE, "expired"),
        (True, None, AudienceRule(frozenset({"hr"}), frozenset(), frozenset(), frozenset()), "audience"),
    ],
)
def test_not_shareable_says_why(published, expires_at, audience, reason):
    with pytest.raises(NotShareable, match=reason):
        check_shareable(published=published, expires_at=expires_at, now=NOW, advocate=SALES_FI, audience=audience)


def test_shareable_item_passes():
    check_shareable(published=True, expires_at=NOW + timedelta(days=1), now=NOW, advocate=SALES_FI, audience=EVERYONE)


def test_personal_wording_ignores_case_and_spacing_of_a_copied_text():
    suggested = ["Proud of our new plant!"]
    assert not is_personal_wording("  proud of   our new PLANT! ", suggested)
    assert is_personal_wording("We built this in 9 months, amazing team", suggested)
    assert not is_personal_wording("", suggested)
    assert is_personal_wording("anything", [])
