"""Reading and listing content items over an in-memory store: what an advocate may see, pages by
content id with their tokens, and the statuses the API answers with."""

from __future__ import annotations

import pytest
from advocacy.content.v1 import content_pb2
from advocacy.content.v1.content_pb2 import ContentItem, ContentStatus
from grpc_interceptor.exceptions import InvalidArgument, NotFound

from services.common.auth import ADVOCATE, CALLER, Caller
from services.content.api.servicer import ContentServicer
from services.content.app.queries import GetItem, InvalidPageToken, ListItems, encode_token
from services.content.app.transitions import ItemNotFound

DRAFT, IN_REVIEW = ContentStatus.CONTENT_STATUS_DRAFT, ContentStatus.CONTENT_STATUS_IN_REVIEW
PUBLISHED, EXPIRED = ContentStatus.CONTENT_STATUS_PUBLISHED, ContentStatus.CONTENT_STATUS_EXPIRED


class MemoryItems:
    def __init__(self, *items: ContentItem) -> None:
        self.items = {i.content_id: i for i in items}

    async def get(self, content_id: str) -> ContentItem | None:
        return self.items.get(content_id)

    async def list_items(self, status: int, after_id: str | None, limit: int) -> list[ContentItem]:
        ids = sorted((i for i in self.items if after_id is None or i < after_id), reverse=True)
        return [self.items[i] for i in ids if not status or self.items[i].status == status][:limit]


def cid(n: int) -> str:
    return f"{n:032x}"


def item(n: int, status: int = PUBLISHED, suggested_by: str = "") -> ContentItem:
    return ContentItem(content_id=cid(n), title=f"item {n}", status=status, suggested_by=suggested_by)


async def test_an_item_is_read_by_id_and_a_missing_one_is_not_found():
    get = GetItem(MemoryItems(item(1, DRAFT)))
    assert (await get(cid(1))).title == "item 1"  # the program team sees drafts
    with pytest.raises(ItemNotFound, match=f"content '{cid(2)}' not found"):
        await get(cid(2))


@pytest.mark.parametrize(
    ("stored", "visible"),
    [
        (item(1, PUBLISHED), True),
        (item(1, EXPIRED), True),  # their old shares point at it
        (item(1, IN_REVIEW, suggested_by="aino"), True),  # their own suggestion
        (item(1, IN_REVIEW, suggested_by="bea"), False),
        (item(1, DRAFT), False),
    ],
)
async def test_an_advocate_sees_shareable_items_and_their_own_suggestions_only(stored, visible):
    get = GetItem(MemoryItems(stored))
    if visible:
        assert (await get(cid(1), advocate_id="aino")).content_id == cid(1)
    else:  # indistinguishable from a missing item
        with pytest.raises(ItemNotFound, match=f"content '{cid(1)}' not found"):
            await get(cid(1), advocate_id="aino")


async def test_items_are_listed_by_id_descending_a_page_at_a_time_filtered_by_status():
    store = MemoryItems(*(item(n, DRAFT if n % 2 else PUBLISHED) for n in range(1, 8)))
    list_items = ListItems(store)
    pages, token = [], ""
    while True:
        page = await list_items(0, 3, token)
        pages.append([i.title for i in page.items])
        if not page.next_page_token:
            break
        token = page.next_page_token
    assert pages == [["item 7", "item 6", "item 5"], ["item 4", "item 3", "item 2"], ["item 1"]]
    published = await list_items(PUBLISHED, 3)
    assert [i.title for i in published.items] == ["item 6", "item 4", "item 2"] and published.next_page_token == ""
    assert (await list_items(0, 7)).next_page_token == ""  # exactly full: no next page


@pytest.mark.parametrize("token", ["not base64!", encode_token("not-a-content-id"), "//79"])
async def test_a_token_not_issued_here_is_refused(token: str):
    with pytest.raises(InvalidPageToken, match="page_token: not a token this service issued"):
        await ListItems(MemoryItems(item(1)))(0, 10, token)


def servicer(store: MemoryItems) -> ContentServicer:
    return ContentServicer(GetItem(store), ListItems(store), None, None, None)


async def test_the_api_answers_not_found_to_an_advocate_and_invalid_argument_to_a_bad_token():
    api = servicer(MemoryItems(item(1, DRAFT)))
    assert (await api.GetContent(content_pb2.GetContentRequest(content_id=cid(1)), None)).title == "item 1"
    reset = CALLER.set(Caller("aino", ADVOCATE))
    try:
        with pytest.raises(NotFound, match="not found"):
            await api.GetContent(content_pb2.GetContentRequest(content_id=cid(1)), None)
    finally:
        CALLER.reset(reset)
    with pytest.raises(InvalidArgument, match="page_token"):
        await api.ListContent(content_pb2.ListContentRequest(page_token="bad!"), None)
