"""Use case: list an advocate's or an item's shares (ListSharesByAdvocate, ListSharesByContent),
newest first, a page at a time.

Pages are keyset pages on (shared_at, _id): stable while new shares arrive. A token is the
position of a page's last share, which clients treat as opaque.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime

from advocacy.share.v1.share_pb2 import Share

from services.share.app.ports import ShareField, ShareLists


class InvalidPageToken(ValueError):
    pass


def encode_token(shared_at: datetime, share_id: str) -> str:
    raw = json.dumps([shared_at.isoformat(), share_id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_token(token: str) -> tuple[datetime, str]:
    try:
        at, share_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return datetime.fromisoformat(at), str(share_id)
    except (ValueError, TypeError) as exc:
        raise InvalidPageToken("page_token: not a token this service issued") from exc


@dataclass(frozen=True)
class SharePage:
    shares: list[Share]
    next_page_token: str  # "" on the last page


class ListShares:
    def __init__(self, shares: ShareLists) -> None:
        self._shares = shares

    async def by_advocate(self, advocate_id: str, page_size: int, page_token: str = "") -> SharePage:
        return await self._page("advocate_id", advocate_id, page_size, page_token)

    async def by_content(self, content_id: str, page_size: int, page_token: str = "") -> SharePage:
        return await self._page("content_id", content_id, page_size, page_token)

    async def _page(self, field: ShareField, value: str, page_size: int, page_token: str) -> SharePage:
        """Raises InvalidPageToken for a token this service did not issue."""
        after = decode_token(page_token) if page_token else None
        listed = await self._shares.listed(field, value, after, page_size + 1)  # one more: is there a next page?
        token = encode_token(*listed[page_size - 1].position) if len(listed) > page_size else ""
        return SharePage([s.share for s in listed[:page_size]], token)
