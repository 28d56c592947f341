"""Which events a lifecycle step writes with the item."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from advocacy.content.v1.content_pb2 import ContentItem, ContentPublished, ContentStatus

from services.content.adapters.events import ContentEvents
from services.content.app.transitions import advance
from services.content.domain.lifecycle import Action, IllegalTransition

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
EVENTS = ContentEvents(lambda name: f"p-{name}")


def item(status: int, **fields) -> ContentItem:
    return ContentItem(content_id="c1", title="t", url="https://e.x", status=status, version=3, **fields)


def kinds(events):
    return [ContentPublished.FromString(e.value).kind for e in events]


def test_publish_stamps_published_at_and_emits_one_event_keyed_by_content():
    updated, events = advance(item(ContentStatus.CONTENT_STATUS_APPROVED), Action.PUBLISH, NOW, EVENTS, "admin")
    assert updated.status == ContentStatus.CONTENT_STATUS_PUBLISHED and updated.version == 4
    assert updated.published_at.ToDatetime(tzinfo=UTC) == NOW
    assert kinds(events) == [ContentPublished.KIND_PUBLISHED]
    assert events[0].topic == "p-content-published" and events[0].key == "c1"
    assert ContentPublished.FromString(events[0].value).item.status == ContentStatus.CONTENT_STATUS_PUBLISHED


def test_expiry_and_archive_of_a_published_item_are_their_own_events():
    published, _ = advance(item(ContentStatus.CONTENT_STATUS_APPROVED), Action.PUBLISH, NOW, EVENTS)
    expired, events = advance(published, Action.EXPIRE, NOW, EVENTS)
    assert kinds(events) == [ContentPublished.KIND_EXPIRED]
    _, events = advance(expired, Action.ARCHIVE, NOW, EVENTS)
    assert kinds(events) == [ContentPublished.KIND_ARCHIVED]


def test_archiving_a_never_published_item_emits_nothing():
    archived, events = advance(item(ContentStatus.CONTENT_STATUS_DRAFT), Action.ARCHIVE, NOW, EVENTS)
    assert archived.status == ContentStatus.CONTENT_STATUS_ARCHIVED and events == []


def test_expiring_a_never_published_item_emits_nothing():
    expired, events = advance(item(ContentStatus.CONTENT_STATUS_APPROVED), Action.EXPIRE, NOW, EVENTS, "scheduler")
    assert expired.status == ContentStatus.CONTENT_STATUS_EXPIRED and events == []
    assert not expired.HasField("published_at")


def test_reject_records_reason_and_reviewer():
    rejected, events = advance(item(ContentStatus.CONTENT_STATUS_IN_REVIEW), Action.REJECT, NOW, EVENTS, "rev", "why")
    assert (rejected.rejection_reason, rejected.reviewer_id, events) == ("why", "rev", [])


def test_illegal_step_is_refused():
    with pytest.raises(IllegalTransition, match="DRAFT"):
        advance(item(ContentStatus.CONTENT_STATUS_DRAFT), Action.PUBLISH, NOW, EVENTS)
