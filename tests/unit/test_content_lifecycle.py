from datetime import UTC, datetime, timedelta

import pytest

from services.content.domain.lifecycle import (
    Action,
    ContentFields,
    IllegalTransition,
    InvalidContent,
    Status,
    transition,
    validate,
)


def fields(**overrides):
    base = dict(
        title="Our new plant",
        summary="",
        url="https://example.com/news/plant",
        topics=("sustainability",),
        suggested_texts=(("NETWORK_LINKEDIN", "Proud of this"),),
        publish_at=None,
        expires_at=None,
    )
    base.update(overrides)
    return ContentFields(**base)


def test_happy_path_reaches_published_then_expired():
    status = Status.DRAFT
    for action in (Action.SUBMIT, Action.APPROVE, Action.PUBLISH, Action.EXPIRE):
        status = transition(status, action)
    assert status is Status.EXPIRED


def test_rejected_item_goes_back_to_draft_by_editing():
    assert transition(transition(Status.IN_REVIEW, Action.REJECT), Action.EDIT) is Status.DRAFT


@pytest.mark.parametrize(
    ("current", "action"),
    [
        (Status.DRAFT, Action.PUBLISH),
        (Status.DRAFT, Action.APPROVE),
        (Status.PUBLISHED, Action.SUBMIT),
        (Status.ARCHIVED, Action.PUBLISH),
        (Status.EXPIRED, Action.EXPIRE),
    ],
)
def test_illegal_transitions_name_the_current_state(current, action):
    with pytest.raises(IllegalTransition) as err:
        transition(current, action)
    assert current.value in str(err.value)


def test_valid_item_passes():
    validate(fields())


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": "  "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "example.com/no-scheme"}, "url"),
        ({"suggested_texts": (("NETWORK_UNSPECIFIED", "hi"),)}, "suggested_texts[0].network"),
        ({"suggested_texts": (("NETWORK_X", ""),)}, "suggested_texts[0].text"),
    ],
)
def test_invalid_fields_are_named(overrides, field):
    with pytest.raises(InvalidContent) as err:
        validate(fields(**overrides))
    assert err.value.field == field


def test_expiry_must_follow_publication():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidContent) as err:
        validate(fields(publish_at=now, expires_at=now - timedelta(hours=1)))
    assert err.value.field == "expires_at"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"suggested_texts": (("unknown(42)", "hi"),)}, "suggested_texts[0].network"),
        ({"media_urls": ("ftp://example.com/a.png",)}, "media_urls[0]"),
        ({"topics": ("",)}, "topics[0]"),
        ({"topics": tuple(f"t{i}" for i in range(51))}, "topics"),
        ({"language": "x" * 101}, "language"),
        ({"audience": {"teams": ("x" * 101,)}}, "audience.teams[0]"),
        ({"summary": "x" * 2001}, "summary"),
    ],
)
def test_more_invalid_fields_are_named(overrides, field):
    with pytest.raises(InvalidContent) as err:
        validate(fields(**overrides))
    assert err.value.field == field


def test_only_drafts_and_rejected_items_are_editable_and_archive_is_final():
    assert transition(Status.DRAFT, Action.EDIT) is Status.DRAFT
    with pytest.raises(IllegalTransition):
        transition(Status.IN_REVIEW, Action.EDIT)
    assert transition(Status.PUBLISHED, Action.ARCHIVE) is Status.ARCHIVED
    with pytest.raises(IllegalTransition):
        transition(Status.ARCHIVED, Action.ARCHIVE)


def test_expiry_in_the_past_is_refused_when_checked_against_now():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidContent) as err:
        validate(fields(expires_at=now - timedelta(seconds=1)), now)
    assert str(err.value) == "expires_at: must be in the future"
    validate(fields(expires_at=now + timedelta(seconds=1)), now)
