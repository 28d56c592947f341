"""Listing shares by advocate or by content item over an in-memory store: newest first, a page at
a time, following the tokens lists every share once while new shares arrive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from advocacy.share.v1 import share_pb2
from advocacy.share.v1.share_pb2 import Share
from grpc_interceptor.exceptions import InvalidArgument

from services.common.events import to_timestamp
from services.share.api.servicer import ShareServicer
from services.share.app.ports import ListedShare, ShareField
from services.share.app.queries import InvalidPageToken, ListShares, encode_token

T0 = datetime(2026, 12, 6, 12, tzinfo=UTC)


class MemoryShares:
    """Shares with their stored (shared_at, _id): the keyset the repository pages on."""

    def __init__(self) -> None:
        self.stored: list[tuple[datetime, str, Share]] = []

    def add(self, share_id: str, advocate_id: str, content_id: str, at: datetime) -> None:
        share = Share(share_id=share_id, advocate_id=advocate_id, content_id=content_id, shared_at=to_timestamp(at))
        self.stored.append((at, share_id, share))

    async def listed(
        self, field: ShareField, value: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[ListedShare]:
        rows = sorted(((at, sid, s) for at, sid, s in self.stored if getattr(s, field) == value), reverse=True)
        if after is not None:
            rows = [r for r in rows if (r[0], r[1]) < after]
        return [ListedShare(s, (at, sid)) for at, sid, s in rows[:limit]]


async def all_pages(list_page, size: int) -> list[list[str]]:
    pages, token = [], ""
    while True:
        page = await list_page(size, token)
        pages.append([s.share_id for s in page.shares])
        if not page.next_page_token:
            return pages
        token = page.next_page_token


async def test_an_advocates_shares_are_listed_newest_first_a_page_at_a_time():
    store = MemoryShares()
    for i in range(5):
        store.add(f"s{i}", "aino", "c1", T0 + timedelta(minutes=i))
    store.add("other", "bea", "c1", T0)
    store.add("s9", "aino", "c2", T0 + timedelta(minutes=4))  # a tie on shared_at: by id, descending
    shares = ListShares(store)

    async def by_aino(size: int, token: str):
        return await shares.by_advocate("aino", size, token)

    assert await all_pages(by_aino, 2) == [["s9", "s4"], ["s3", "s2"], ["s1", "s0"]]
    assert await all_pages(by_aino, 6) == [["s9", "s4", "s3", "s2", "s1", "s0"]]  # exactly full: no token


async def test_shares_arriving_while_paging_are_not_listed_twice_and_none_is_skipped():
    store = MemoryShares()
    for i in range(4):
        store.add(f"s{i}", "aino", "c1", T0 + timedelta(minutes=i))
    shares = ListShares(store)
    first = await shares.by_content("c1", 2)
    assert [s.share_id for s in first.shares] == ["s3", "s2"]
    store.add("new", "bea", "c1", T0 + timedelta(hours=1))
    rest = await shares.by_content("c1", 2, first.next_page_token)
    assert [s.share_id for s in rest.shares] == ["s1", "s0"] and rest.next_page_token == ""


async def test_a_token_not_issued_here_is_refused():
    shares = ListShares(MemoryShares())
    for token in ("not-base64!", encode_token(T0, "s1")[:-4], "WzFd"):  # "WzFd" = [1]: not a position
        with pytest.raises(InvalidPageToken, match="page_token: not a token this service issued"):
            await shares.by_advocate("aino", 10, token)
    assert (await shares.by_advocate("nobody", 10)).shares == []


async def test_the_api_names_the_page_token_it_refuses():
    servicer = ShareServicer(None, ListShares(MemoryShares()), None, None)
    request = share_pb2.ListSharesByContentRequest(content_id="c1", page_token="bad!")
    with pytest.raises(InvalidArgument, match="page_token"):
        await servicer.ListSharesByContent(request, None)
