"""gRPC ContentService: translates requests, applies the lifecycle, persists with its events."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import grpc
from advocacy.content.v1 import content_pb2, content_pb2_grpc
from advocacy.content.v1.content_pb2 import ContentItem, ContentStatus
from grpc_interceptor.exceptions import Aborted, FailedPrecondition, InvalidArgument, NotFound, Unavailable

from services.common import paging
from services.common.auth import ADVOCATE, current_caller
from services.common.validation import check_request_id
from services.content.api.sources import SourceAdmin
from services.content.app.advocate_feed import ListFeed, UnknownViewer, ViewerLeft
from services.content.app.authoring import CreateItem, EditItem
from services.content.app.imports import ImportItems
from services.content.app.prerequisites import Prerequisites
from services.content.app.previews import PreviewReader
from services.content.app.queries import GetItem, InvalidPageToken, ListItems
from services.content.app.transitions import ItemNotFound, TransitionItem
from services.content.domain import feed
from services.content.domain.item import InvalidExpectedVersion, VersionConflict
from services.content.domain.lifecycle import (
    MAX_SUMMARY,
    MAX_TITLE,
    Action,
    IllegalTransition,
    InvalidContent,
    check_url,
)
from services.content.domain.schedule import AlreadyExpired

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@contextmanager
def _statuses() -> Iterator[None]:
    """The use cases' refusals as gRPC statuses."""
    try:
        yield
    except ItemNotFound as exc:
        raise NotFound(str(exc)) from exc
    except InvalidExpectedVersion as exc:
        raise InvalidArgument(str(exc)) from exc
    except VersionConflict as exc:
        raise Aborted(str(exc)) from exc
    except (IllegalTransition, AlreadyExpired) as exc:
        raise FailedPrecondition(str(exc)) from exc
    except InvalidContent as exc:
        raise InvalidArgument(f"item.{exc}") from exc
    except InvalidPageToken as exc:
        raise InvalidArgument(str(exc)) from exc


class ContentServicer(content_pb2_grpc.ContentServiceServicer):
    def __init__(
        self,
        get_item: GetItem,
        list_items: ListItems,
        transitions: TransitionItem,
        create: CreateItem,
        edit: EditItem,
        list_feed: ListFeed | None = None,
        sources: SourceAdmin | None = None,
        previews: PreviewReader | None = None,
        prerequisites: Prerequisites | None = None,
        import_items: ImportItems | None = None,
    ):
        self._import_items = import_items
        self._get_item = get_item
        self._list_items = list_items
        self._transitions = transitions
        self._create = create
        self._edit = edit
        self._list_feed = list_feed
        self._sources = sources
        self._previews = previews
        self._prerequisites = prerequisites

    async def _attach_previews(self, items: list[ContentItem]) -> None:
        """What reads show besides the stored item: link previews and the campaign's required lessons."""
        if self._previews is not None:
            await self._previews.attach(items)
        if self._prerequisites is not None:
            await self._prerequisites.attach(items)

    def _source_admin(self) -> SourceAdmin:
        if self._sources is None:
            raise Unavailable("feed sources are switched off in this deployment (ADVOCACY_CONTENT_SOURCES_ENABLED)")
        return self._sources

    async def CreateContent(
        self, request: content_pb2.CreateContentRequest, context: grpc.aio.ServicerContext
    ) -> ContentItem:
        check_request_id(request.item.author_id, "item.author_id", optional=True)
        with _statuses():
            return await self._create(request.item, ContentStatus.CONTENT_STATUS_DRAFT, request.item.author_id)

    async def SuggestContent(
        self, request: content_pb2.SuggestContentRequest, context: grpc.aio.ServicerContext
    ) -> ContentItem:
        if not request.advocate_id.strip():
            raise InvalidArgument("advocate_id: must not be empty")
        check_request_id(request.advocate_id, "advocate_id", optional=True)
        item = request.item
        if not item.title.strip() and item.url:
            item = await self._from_preview(item)
        # A suggestion is a draft its advocate submitted: it starts IN_REVIEW.
        with _statuses():
            return await self._create(
                item,
                ContentStatus.CONTENT_STATUS_IN_REVIEW,
                author_id=request.advocate_id,
                suggested_by=request.advocate_id,
            )

    async def _from_preview(self, given: ContentItem) -> ContentItem:
        """A suggestion by URL only: title, summary and image from the page's preview, read now."""
        try:
            check_url("item.url", given.url)
        except InvalidContent as exc:
            raise InvalidArgument(str(exc)) from exc
        if self._previews is None:
            raise InvalidArgument("item.title: must not be empty (link previews are switched off here)")
        preview, error = await self._previews.read_now(given.url)
        if preview is None or not preview.title:
            raise FailedPrecondition(
                f"item.url: no title could be read from the page ({error or 'it has none'}); give item.title"
            )
        item = ContentItem()
        item.CopyFrom(given)
        item.title = preview.title[:MAX_TITLE]
        item.summary = item.summary or preview.description[:MAX_SUMMARY]
        if not item.media_urls and preview.image_url:
            item.media_urls.append(preview.image_url)
        return item

    async def GetContent(
        self, request: content_pb2.GetContentRequest, context: grpc.aio.ServicerContext
    ) -> ContentItem:
        check_request_id(request.content_id, "content_id")
        caller = current_caller()
        # An advocate is shown only what advocates may see (app/queries.py); the program team all.
        advocate_id = caller.subject if caller is not None and caller.role == ADVOCATE else None
        with _statuses():
            item = await self._get_item(request.content_id, advocate_id)
        await self._attach_previews([item])
        return item

    async def EditContent(
        self, request: content_pb2.EditContentRequest, context: grpc.aio.ServicerContext
    ) -> ContentItem:
        if request.expected_version <= 0:
            raise InvalidArgument("expected_version: required (the version the edit is based on)")
        check_request_id(request.actor_id, "actor_id", optional=True)
        check_request_id(request.item.author_id, "item.author_id", optional=True)
        check_request_id(request.content_id, "content_id")
        with _statuses():
            return await self._edit(request.content_id, request.expected_version, request.item)

    async def SubmitForReview(
        self, request: content_pb2.TransitionRequest, context: grpc.aio.ServicerContext
    ) -> ContentItem:
        return await self._transition(request, Action.SUBMIT)

    async def Approve(self, request: content_pb2.TransitionRequest, context: grpc.aio.ServicerContext) -> ContentItem:
        return await self._transition(request, Action.APPROVE)

    async def Reject(self, request: content_pb2.TransitionRequest, context: grpc.aio.ServicerContext) -> ContentItem:
        if not request.reason.strip():
            raise InvalidArgument("reason: required when rejecting")
        return await self._transition(request, Action.REJECT)

    async def Publish(self, request: content_pb2.TransitionRequest, context: grpc.aio.ServicerContext) -> ContentItem:
        return await self._transition(request, Action.PUBLISH)

    async def Archive(self, request: content_pb2.TransitionRequest, context: grpc.aio.ServicerContext) -> ContentItem:
        return await self._transition(request, Action.ARCHIVE)

    async def _transition(self, request: content_pb2.TransitionRequest, action: Action) -> ContentItem:
        check_request_id(request.actor_id, "actor_id", optional=True)
        if len(request.reason) > MAX_SUMMARY:
            raise InvalidArgument(f"reason: at most {MAX_SUMMARY} characters")
        check_request_id(request.content_id, "content_id")
        with _statuses():
            return await self._transitions(
                request.content_id, action, request.expected_version, request.actor_id, request.reason
            )

    async def ListContent(
        self, request: content_pb2.ListContentRequest, context: grpc.aio.ServicerContext
    ) -> content_pb2.ListContentResponse:
        size = paging.page_size(request.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        if request.status not in ContentStatus.values():
            raise InvalidArgument(f"status: unknown value {request.status}")
        with _statuses():
            page = await self._list_items(request.status, size, request.page_token)
        return content_pb2.ListContentResponse(items=page.items, next_page_token=page.next_page_token)

    async def ListFeed(
        self, request: content_pb2.ListFeedRequest, context: grpc.aio.ServicerContext
    ) -> content_pb2.ListFeedResponse:
        check_request_id(request.advocate_id, "advocate_id")
        size = paging.page_size(request.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        try:
            after = feed.decode_token(request.page_token) if request.page_token else None
        except feed.InvalidPageToken as exc:
            raise InvalidArgument(str(exc)) from exc
        assert self._list_feed is not None, "ListFeed needs the feed views"
        try:
            page = await self._list_feed(request.advocate_id, size, after)
        except UnknownViewer as exc:
            raise NotFound(str(exc)) from exc
        except ViewerLeft as exc:
            raise FailedPrecondition(str(exc)) from exc
        await self._attach_previews([e.item for e in page.entries])
        entries = [
            content_pb2.FeedEntry(
                item=e.item,
                already_shared=e.already_shared,
                matched_interests=list(e.ranked.matched),
                score=e.ranked.score,
            )
            for e in page.entries
        ]
        return content_pb2.ListFeedResponse(entries=entries, next_page_token=page.next_page_token)

    async def CreateSource(
        self, request: content_pb2.CreateSourceRequest, context: grpc.aio.ServicerContext
    ) -> content_pb2.FeedSource:
        return await self._source_admin().create(request)

    async def ListSources(
        self, request: content_pb2.ListSourcesRequest, context: grpc.aio.ServicerContext
    ) -> content_pb2.ListSourcesResponse:
        return await self._source_admin().list(request)

    async def PauseSource(
        self, request: content_pb2.PauseSourceRequest, context: grpc.aio.ServicerContext
    ) -> content_pb2.FeedSource:
        return await self._source_admin().pause(request)

    async def DeleteSource(
        self, request: content_pb2.DeleteSourceRequest, context: grpc.aio.ServicerContext
    ) -> content_pb2.DeleteSourceResponse:
        return await self._source_admin().delete(request)

    async def ImportContent(
        self, request: content_pb2.ImportContentRequest, context: grpc.aio.ServicerContext
    ) -> content_pb2.ImportContentResponse:
        assert self._import_items is not None, "wired by the composition root"
        results = await self._import_items(list(request.items))
        return content_pb2.ImportContentResponse(
            results=[content_pb2.ImportedContentResult(item=item, created=created) for item, created in results]
        )
