"""The content service as seen from the share service: GetContent, with published items kept
for a moment (`cache_seconds`) so a burst of shares of one item costs one call, not one each, and
GetCampaignPrerequisites (kept as long), asked only while the local view of them cannot answer."""

from __future__ import annotations

import asyncio
import time

import grpc
from advocacy.content.v1 import content_pb2, content_pb2_grpc, training_pb2, training_pb2_grpc
from advocacy.content.v1.content_pb2 import ContentItem, ContentStatus

from services.share.app.ports import ContentUnavailable

__all__ = ["ContentClient", "ContentUnavailable"]

# Bounds the memory of the cache; when full it starts over (items are re-read on next use).
MAX_CACHED = 10_000


class ContentClient:
    def __init__(self, channel: grpc.aio.Channel, timeout_seconds: float = 2.0, cache_seconds: float = 0.0) -> None:
        # The channel carries the share service's own token (services.common.auth.service_channel).
        self._channel = channel
        self._stub = content_pb2_grpc.ContentServiceStub(self._channel)
        self._training = training_pb2_grpc.TrainingServiceStub(self._channel)
        self._required: dict[str, tuple[float, tuple[str, ...]]] = {}
        self._timeout = timeout_seconds
        self._ttl = cache_seconds
        self._cache: dict[str, tuple[float, ContentItem]] = {}
        # One GetContent in flight per item: concurrent shares of it wait for that answer.
        self._pending: dict[str, asyncio.Future[ContentItem | None]] = {}

    async def get(self, content_id: str) -> ContentItem | None:
        if self._ttl <= 0:
            return await self._fetch(content_id)
        cached = self._cache.get(content_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        pending = self._pending.get(content_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[ContentItem | None] = asyncio.get_running_loop().create_future()
        self._pending[content_id] = future
        try:
            item = await self._fetch(content_id)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it, nobody else needs to
            raise
        else:
            future.set_result(item)
            if item is not None and item.status == ContentStatus.CONTENT_STATUS_PUBLISHED:
                if len(self._cache) >= MAX_CACHED:
                    self._cache.clear()
                self._cache[content_id] = (time.monotonic() + self._ttl, item)
            return item
        finally:
            del self._pending[content_id]

    async def _fetch(self, content_id: str) -> ContentItem | None:
        try:
            return await self._stub.GetContent(
                content_pb2.GetContentRequest(content_id=content_id), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise ContentUnavailable(f"content service: {exc.code().name}: {exc.details()}") from exc

    async def prerequisites(self, campaign_id: str) -> tuple[str, ...]:
        cached = self._required.get(campaign_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            found = await self._training.GetCampaignPrerequisites(
                training_pb2.GetCampaignPrerequisitesRequest(campaign_id=campaign_id), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise ContentUnavailable(f"content service: {exc.code().name}: {exc.details()}") from exc
        required = tuple(found.lesson_ids)
        if self._ttl > 0:
            if len(self._required) >= MAX_CACHED:
                self._required.clear()
            self._required[campaign_id] = (time.monotonic() + self._ttl, required)
        return required

    async def close(self) -> None:
        await self._channel.close()
