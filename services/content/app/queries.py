"""Use cases: read one item (GetContent) and list items by status (ListContent).

An advocate sees published and expired items (their old shares point at those) and their own
suggestions; drafts, reviews and rejections are the program team's and do not exist to them.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from advocacy.content.v1.content_pb2 import ContentItem, ContentStatus

from services.content.app.ports import ItemLists, ItemReader
from services.content.app.transitions import ItemNotFound

_CONTENT_ID = re.compile(r"[0-9a-f]{32}")
NOT_ISSUED = "page_token: not a token this service issued"


class InvalidPageToken(ValueError):
    pass


def encode_token(content_id: str) -> str:
    return base64.urlsafe_b64encode(content_id.encode()).decode()


def decode_token(token: str) -> str:
    """The content id a page ended with; raises InvalidPageToken."""
    try:
        after = base64.b64decode(token, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidPageToken(NOT_ISSUED) from exc
    if not _CONTENT_ID.fullmatch(after):
        raise InvalidPageToken(NOT_ISSUED)
    return after


def visible_to_advocate(item: ContentItem, advocate_id: str) -> bool:
    shared_statuses = (ContentStatus.CONTENT_STATUS_PUBLISHED, ContentStatus.CONTENT_STATUS_EXPIRED)
    return item.status in shared_statuses or item.suggested_by == advocate_id


@dataclass(frozen=True)
class ItemPage:
    items: list[ContentItem]
    next_page_token: str  # "" on the last page


class GetItem:
    def __init__(self, items: ItemReader) -> None:
        self._items = items

    async def __call__(self, content_id: str, advocate_id: str | None = None) -> ContentItem:
        """The item as the caller may see it (`advocate_id`: an advocate asks); raises ItemNotFound."""
        item = await self._items.get(content_id)
        if item is None or (advocate_id is not None and not visible_to_advocate(item, advocate_id)):
            raise ItemNotFound(content_id)
        return item


class ListItems:
    def __init__(self, items: ItemLists) -> None:
        self._items = items

    async def __call__(self, status: int, page_size: int, page_token: str = "") -> ItemPage:
        """By content id, descending; raises InvalidPageToken for a token this service did not issue."""
        after = decode_token(page_token) if page_token else None
        items = await self._items.list_items(status, after, page_size + 1)  # one more: is there a next page?
        token = encode_token(items[page_size - 1].content_id) if len(items) > page_size else ""
        return ItemPage(items[:page_size], token)
