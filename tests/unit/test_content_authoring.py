"""The content authoring and feed use cases over in-memory fakes: create, edit, an advocate's feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from advocacy.content.v1.content_pb2 import Audience, ContentItem, ContentStatus

from services.common.events import to_timestamp
from services.content.app.advocate_feed import ListFeed, UnknownViewer, ViewerLeft
from services.content.app.authoring import CreateItem, EditItem
from services.content.app.transitions import ItemNotFound
from services.content.domain import feed
from services.content.domain.item import InvalidExpectedVersion, VersionConflict
from services.content.domain.lifecycle import IllegalTransition, InvalidContent
from tests.unit.content_fakes import FakeItems

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
DRAFT, PUBLISHED = ContentStatus.CONTENT_STATUS_DRAFT, ContentStatus.CONTENT_STATUS_PUBLISHED


class MemoryItems(FakeItems):
    async def feed_candidates(self, dimension_values: dict[str, str], now: datetime) -> list[ContentItem]:
        return [i for i in self.items.values() if i.status == PUBLISHED]  # the use case re-checks the audience


def draft(**fields: object) -> ContentItem:
    return ContentItem(**{"title": "We opened a plant", "url": "https://example.com/plant", **fields})


def creator(items: MemoryItems, saved: list[ContentItem]) -> CreateItem:
    return CreateItem(items, saved.append, clock=lambda: NOW, next_id=lambda: "c1")


async def test_creating_keeps_only_what_an_author_may_set_and_asks_for_its_preview():
    items, saved = MemoryItems(), []
    given = draft(content_id="mine", version=9, status=PUBLISHED, reviewer_id="me", suggested_by="x")
    item = await creator(items, saved)(given, DRAFT, author_id="comms")
    assert (item.content_id, item.status, item.version, item.author_id) == ("c1", DRAFT, 1, "comms")
    assert (item.reviewer_id, item.suggested_by) == ("", "")
    assert item.created_at == item.updated_at == to_timestamp(NOW)
    assert items.items == {"c1": item} and saved == [item]


async def test_a_suggestion_is_authored_and_suggested_by_its_advocate():
    items, saved = MemoryItems(), []
    item = await creator(items, saved)(draft(), ContentStatus.CONTENT_STATUS_IN_REVIEW, "aino", suggested_by="aino")
    assert (item.status, item.author_id, item.suggested_by) == (ContentStatus.CONTENT_STATUS_IN_REVIEW, "aino", "aino")


async def test_an_invalid_item_is_refused_naming_the_field_and_nothing_is_stored():
    items, saved = MemoryItems(), []
    with pytest.raises(InvalidContent, match=r"^title"):
        await creator(items, saved)(ContentItem(url="https://example.com"), DRAFT, "comms")
    assert items.items == {} and saved == []


async def stored(items: MemoryItems, status: int = DRAFT) -> ContentItem:
    item = await CreateItem(items, clock=lambda: NOW - timedelta(days=1), next_id=lambda: "c1")(draft(), DRAFT, "comms")
    item.status = status  # type: ignore[assignment]
    return item


async def test_an_edit_is_the_next_version_keeping_identity_author_and_creation():
    items, saved = MemoryItems(), []
    before = await stored(items)
    edited = await EditItem(items, saved.append, clock=lambda: NOW)(
        "c1", 1, draft(title="New title", author_id="someone", version=7)
    )
    assert (edited.content_id, edited.version, edited.title, edited.author_id) == ("c1", 2, "New title", "comms")
    assert edited.created_at == before.created_at and edited.updated_at == to_timestamp(NOW)
    assert items.items["c1"] == edited and saved == [edited]


@pytest.mark.parametrize(
    ("content_id", "expected", "status", "error"),
    [
        ("nope", 1, DRAFT, ItemNotFound),
        ("c1", -1, DRAFT, InvalidExpectedVersion),
        ("c1", 5, DRAFT, VersionConflict),
        ("c1", 1, ContentStatus.CONTENT_STATUS_ARCHIVED, IllegalTransition),
    ],
)
async def test_refused_edits_change_nothing(content_id: str, expected: int, status: int, error: type):
    items, saved = MemoryItems(), []
    before = await stored(items, status)
    with pytest.raises(error):
        await EditItem(items, saved.append, clock=lambda: NOW)(content_id, expected, draft(title="x"))
    assert items.items == {"c1": before} and saved == []


async def test_an_edit_that_loses_to_a_concurrent_change_is_a_version_conflict():
    items, saved = MemoryItems(), []
    await stored(items)
    items.lose_next = True
    with pytest.raises(VersionConflict, match="changed concurrently"):
        await EditItem(items, saved.append, clock=lambda: NOW)("c1", 1, draft(title="x"))
    assert saved == []


class MemoryViewers:
    def __init__(self, *viewers: feed.Viewer, shared: set[str] | None = None) -> None:
        self.viewers = {v.advocate_id: v for v in viewers}
        self.shared = shared or set()

    async def viewer(self, advocate_id: str) -> feed.Viewer | None:
        return self.viewers.get(advocate_id)

    async def shared_content_ids(self, advocate_id: str, content_ids: list[str]) -> set[str]:
        return {c for c in content_ids if f"{advocate_id}/{c}" in self.shared}


def viewer(enrolled: bool = True) -> feed.Viewer:
    return feed.Viewer("aino", "sales", "fi", "fi", "engineer", ("green",), enrolled)


def published(
    content_id: str, hours_ago: int, topics: tuple[str, ...] = (), teams: tuple[str, ...] = ()
) -> ContentItem:
    return ContentItem(
        content_id=content_id,
        status=PUBLISHED,
        topics=list(topics),
        published_at=to_timestamp(NOW - timedelta(hours=hours_ago)),
        audience=Audience(teams=list(teams)),
    )


async def test_the_feed_ranks_matched_interests_first_then_freshness_and_marks_shared_items():
    items = MemoryItems()
    for item in (
        published("old-green", 30, ("Green",)),
        published("new", 1),
        published("older", 5),
        published("other-team", 0, teams=("finance",)),
    ):
        items.items[item.content_id] = item
    list_feed = ListFeed(items, MemoryViewers(viewer(), shared={"aino/new"}), clock=lambda: NOW)
    first = await list_feed("aino", 2, None)
    assert [(e.item.content_id, e.already_shared, e.ranked.matched) for e in first.entries] == [
        ("old-green", False, ("Green",)),
        ("new", True, ()),
    ]
    rest = await list_feed("aino", 2, feed.decode_token(first.next_page_token))
    assert ([e.item.content_id for e in rest.entries], rest.next_page_token) == (["older"], "")


async def test_a_feed_for_an_unknown_or_departed_advocate_is_refused():
    with pytest.raises(UnknownViewer, match="'aino' not known"):
        await ListFeed(MemoryItems(), MemoryViewers())("aino", 10, None)
    with pytest.raises(ViewerLeft, match="has left the programme"):
        await ListFeed(MemoryItems(), MemoryViewers(viewer(enrolled=False)))("aino", 10, None)
