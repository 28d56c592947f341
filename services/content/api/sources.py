"""The feed-source RPCs of ContentService (admin only, by services/common/policy.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from advocacy.content.v1 import content_pb2
from advocacy.content.v1.content_pb2 import FeedSource
from grpc_interceptor.exceptions import InvalidArgument, NotFound

from services.common import paging
from services.common.auth import current_caller
from services.common.events import to_timestamp, utcnow
from services.common.validation import check_request_id
from services.content.adapters.sources import SourceRepository
from services.content.app.feed_items import source_defaults
from services.content.domain.sources import InvalidSource, validate_source

DEFAULT_PAGE = 100
MAX_PAGE = 500


class SourceAdmin:
    def __init__(
        self,
        sources: SourceRepository,
        new_id: Callable[[], str],
        min_interval_seconds: int,
        poke: Callable[[str], None] = lambda source_id: None,
    ) -> None:
        self._sources = sources
        self._new_id = new_id
        self._min_interval = min_interval_seconds
        self._poke = poke

    async def create(self, request: content_pb2.CreateSourceRequest) -> FeedSource:
        given = request.source
        try:
            interval = validate_source(
                given.url, given.poll_interval_seconds, source_defaults(given), self._min_interval
            )
        except InvalidSource as exc:
            raise InvalidArgument(f"source.{exc}") from exc
        source = FeedSource(
            source_id=self._new_id(),
            url=given.url,
            defaults=given.defaults,
            poll_interval_seconds=interval,
            created_at=to_timestamp(utcnow()),
        )
        caller = current_caller()
        source.created_by = caller.subject if caller else ""
        await self._sources.insert(source)
        self._poke(source.source_id)
        return source

    async def list(self, request: content_pb2.ListSourcesRequest) -> content_pb2.ListSourcesResponse:
        size = paging.page_size(request.page_size, DEFAULT_PAGE, MAX_PAGE)
        after = paging.decode_token(request.page_token, (str,))[0] if request.page_token else ""
        configs, token = paging.trim(await self._sources.page(size + 1, after), size, lambda s: [s.source_id])
        statuses = await asyncio.gather(*(self._sources.status(s.source_id) for s in configs))
        for source, (status, _) in zip(configs, statuses, strict=True):
            source.status.CopyFrom(status)
        return content_pb2.ListSourcesResponse(sources=configs, next_page_token=token)

    async def pause(self, request: content_pb2.PauseSourceRequest) -> FeedSource:
        check_request_id(request.source_id, "source_id")
        source = await self._sources.set_paused(request.source_id, request.paused)
        if source is None:
            raise NotFound(f"source {request.source_id!r} not found")
        if not request.paused:
            self._poke(source.source_id)
        status, _ = await self._sources.status(source.source_id)
        source.status.CopyFrom(status)
        return source

    async def delete(self, request: content_pb2.DeleteSourceRequest) -> content_pb2.DeleteSourceResponse:
        check_request_id(request.source_id, "source_id")
        if not await self._sources.delete(request.source_id):
            raise NotFound(f"source {request.source_id!r} not found")
        return content_pb2.DeleteSourceResponse()
