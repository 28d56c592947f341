"""Use case: read the link preview of an item's URL, in the background or (for a suggestion by URL
only) at once.

Background requests go to a bounded in-process queue served by a few workers: creating an item
never waits for its page. A request the queue cannot take is dropped (counted) and made again when
somebody reads the item without a preview (GetContent), so a restart loses nothing for good.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import timedelta

from advocacy.content.v1.content_pb2 import ContentItem, LinkPreview

from services.common.events import to_timestamp, utcnow
from services.common.logging import get_logger
from services.content.app.ports import Fetcher, Previews
from services.content.domain.preview import extract_preview

log = get_logger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml")
# A claim older than this belongs to a fetcher that died; the page may be fetched again.
STALE_CLAIM = timedelta(minutes=2)


class PreviewReader:
    def __init__(
        self,
        store: Previews,
        fetcher: Fetcher,
        max_bytes: int,
        concurrency: int = 2,
        queue_size: int = 1000,
        on_outcome: Callable[[str], None] = lambda outcome: None,
    ) -> None:
        self._store = store
        self._fetcher = fetcher
        self._max_bytes = max_bytes
        self._concurrency = concurrency
        self._queue: asyncio.Queue[str] = asyncio.Queue(queue_size)
        self._queued: set[str] = set()
        self._outcome = on_outcome
        self._stopped = asyncio.Event()

    def request(self, url: str) -> None:
        """Asks for the URL's preview in the background (idempotent while queued)."""
        if url in self._queued:
            return
        try:
            self._queue.put_nowait(url)
        except asyncio.QueueFull:
            self._outcome("dropped")
            return
        self._queued.add(url)

    async def attach(self, items: Sequence[ContentItem]) -> None:
        """Sets each item's stored preview; asks again for a URL never requested (a request lost
        to a full queue or a restart, an item older than previews)."""
        found = await asyncio.gather(*(self._store.get(item.url) for item in items))
        for item, (state, preview) in zip(items, found, strict=True):
            if preview is not None:
                item.preview.CopyFrom(preview)
            elif not state:
                self.request(item.url)

    def stop(self) -> None:
        self._stopped.set()

    async def run(self) -> None:
        workers = [asyncio.create_task(self._work()) for _ in range(self._concurrency)]
        try:
            await self._stopped.wait()
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            url = await self._queue.get()
            self._queued.discard(url)
            try:
                if await self._store.claim(url, utcnow(), STALE_CLAIM):
                    preview, error = await self.read(url)
                    await self._store.save(url, preview, error)
            except Exception as exc:  # a database hiccup loses one preview, not the worker
                log.warning("preview_failed", url=url[:200], error=str(exc)[:300])

    async def read_now(self, url: str) -> tuple[LinkPreview | None, str]:
        """Fetches at once (within the fetch time limit) and keeps the result if nobody else has one."""
        preview, error = await self.read(url)
        try:
            if await self._store.claim(url, utcnow(), STALE_CLAIM):
                await self._store.save(url, preview, error)
        except Exception as exc:  # the caller has its answer; storing it is a bonus
            log.warning("preview_store_failed", url=url[:200], error=str(exc)[:300])
        return preview, error

    async def read(self, url: str) -> tuple[LinkPreview | None, str]:
        """The page's preview, or None and why not."""
        try:
            response = await self._fetcher.get(url, self._max_bytes, {"Accept": "text/html,application/xhtml+xml"})
        except Exception as exc:  # a page that cannot be read leaves the item without a preview
            self._outcome(getattr(exc, "kind", "error"))
            return None, str(exc)
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type and content_type not in HTML_TYPES:
            self._outcome("not_html")
            return None, f"not an HTML page ({content_type})"
        found = await asyncio.to_thread(extract_preview, response.body, response.url)
        if found.is_empty():
            self._outcome("empty")
            return None, "the page has no title, description or image"
        self._outcome("read")
        return (
            LinkPreview(
                title=found.title,
                description=found.description,
                image_url=found.image_url,
                site_name=found.site_name,
                fetched_at=to_timestamp(utcnow()),
            ),
            "",
        )
