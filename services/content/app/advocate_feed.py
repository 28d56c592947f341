"""Use case: an advocate's feed, one page of the published items meant for them, best first
(interests matched, then freshness), each marked when they shared it already."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from advocacy.content.v1.content_pb2 import ContentItem

from services.common.events import from_timestamp, utcnow
from services.content.app.ports import FeedCandidates, Viewers
from services.content.domain import feed
from services.content.domain.item import audience_values


class UnknownViewer(LookupError):
    def __init__(self, advocate_id: str) -> None:
        super().__init__(f"advocate {advocate_id!r} not known to the content service (yet)")


class ViewerLeft(Exception):
    def __init__(self, advocate_id: str) -> None:
        super().__init__(
            f"advocate_id: advocate {advocate_id!r} is not enrolled (has left the programme); "
            "only enrolled advocates have a feed"
        )


@dataclass(frozen=True)
class FeedEntry:
    item: ContentItem
    ranked: feed.Ranked
    already_shared: bool


@dataclass(frozen=True)
class FeedPage:
    entries: list[FeedEntry]
    next_page_token: str  # "" on the last page


class ListFeed:
    def __init__(self, items: FeedCandidates, viewers: Viewers, clock: Callable[[], datetime] = utcnow) -> None:
        self._items = items
        self._viewers = viewers
        self._clock = clock

    async def __call__(self, advocate_id: str, size: int, after: tuple[float, int, str] | None) -> FeedPage:
        """Raises UnknownViewer or ViewerLeft."""
        viewer = await self._viewers.viewer(advocate_id)
        if viewer is None:
            # The view follows `advocate-changed`; a just-enrolled advocate may take a moment to appear.
            raise UnknownViewer(advocate_id)
        if not viewer.enrolled:
            # An error, not an empty page: a feed UI must tell "you have left the programme" apart
            # from "nothing to share right now" (and the share service refuses their shares alike).
            raise ViewerLeft(advocate_id)
        now = self._clock()
        candidates = {
            item.content_id: item for item in await self._items.feed_candidates(viewer.dimension_values(), now)
        }
        ranked = [
            feed.rank(item.content_id, item.topics, from_timestamp(item.published_at), viewer)
            for item in candidates.values()
            # Belt and braces: the query already filtered on the normalised audience.
            if feed.in_audience(audience_values(item.audience), viewer)
        ]
        selected, token = feed.page(ranked, size, after)
        shared = await self._viewers.shared_content_ids(viewer.advocate_id, [r.content_id for r in selected])
        entries = [FeedEntry(candidates[r.content_id], r, r.content_id in shared) for r in selected]
        return FeedPage(entries, token)
