"""gRPC ContentService: translates requests, applies the lifecycle, persists with its events."""

from __future__ import annotations

import base64
import binascii
import os
import re
import time

import grpc
from advocacy.common.v1.common_pb2 import Network
from advocacy.content.v1 import content_pb2, content_pb2_grpc
from advocacy.content.v1.content_pb2 import ContentItem, ContentStatus
from grpc_interceptor.exceptions import Aborted, FailedPrecondition, InvalidArgument, NotFound, Unavailable

from services.common import paging
from services.common.auth import ADVOCATE, current_caller
from services.common.events import from_timestamp, optional_time, to_timestamp, utcnow
from services.common.validation import check_request_id
from services.content.adapters.repository import ContentRepository
from services.content.adapters.views import FeedViews
from services.content.api.sources import SourceAdmin
from services.content.app.previews import PreviewReader
from services.content.app.transitions import CONCURRENT_CHANGE, ItemNotFound, TransitionItem
from services.content.domain import feed
from services.content.domain.item import (
    InvalidExpectedVersion,
    VersionConflict,
    audience_values,
    check_expected_version,
    proto_status,
    status_of,
)
from services.content.domain.lifecycle import (
    MAX_SUMMARY,
    MAX_TITLE,
    Action,
    ContentFields,
    IllegalTransition,
    InvalidContent,
    check_url,
    transition,
    validate,
)
from services.content.domain.schedule import AlreadyExpired

DEFAULT_PAGE_SIZE = 20
_CONTENT_ID = re.compile(r"[0-9a-f]{32}")
MAX_PAGE_SIZE = 100


def _network_name(value: int) -> str:
    try:
        return str(Network.Name(value))
    except ValueError:
        return f"unknown({value})"


def _fields(item: ContentItem) -> ContentFields:
    return ContentFields(
        title=item.title,
        summary=item.summary,
        url=item.url,
        topics=tuple(item.topics),
        suggested_texts=tuple((_network_name(t.network), t.text) for t in item.suggested_texts),
        publish_at=optional_time(item, "publish_at"),
        expires_at=optional_time(item, "expires_at"),
        media_urls=tuple(item.media_urls),
        language=item.language,
        campaign_id=item.campaign_id,
        audience=audience_values(item.audience),
    )


def _validated(item: ContentItem, prefix: str = "item.") -> None:
    try:
        validate(_fields(item), utcnow())
    except InvalidContent as exc:
        raise InvalidArgument(f"{prefix}{exc}") from exc


def new_id() -> str:
    # Time-ordered (milliseconds, then random): admin listings sort newest first by id alone.
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


def _visible_to_advocate(item: ContentItem, advocate_id: str) -> bool:
    """Published (or expired: an advocate's old shares point at it) items, and their own suggestions."""
    shared_statuses = (ContentStatus.CONTENT_STATUS_PUBLISHED, ContentStatus.CONTENT_STATUS_EXPIRED)
    return item.status in shared_statuses or item.suggested_by == advocate_id


def _editable_copy(source: ContentItem) -> ContentItem:
    """Only what an author may set; identity, state and review fields are the service's."""
    item = ContentItem()
    item.CopyFrom(source)
    for name in (
        "content_id",
        "status",
        "rejection_reason",
        "reviewer_id",
        "version",
        "published_at",
        "suggested_by",
        "created_at",
        "updated_at",
        "preview",
        "source_id",
    ):
        item.ClearField(name)
    return item


class ContentServicer(content_pb2_grpc.ContentServiceServicer):
    def __init__(
        self,
        repository: ContentRepository,
        transitions: TransitionItem,
        views: FeedViews | None = None,
        sources: SourceAdmin | None = None,
        previews: PreviewReader | None = None,
    ):
        self._repo = repository
        self._transitions = transitions
        self._views = views
        self._sources = sources
        self._previews = previews

    def _request_preview(self, item: ContentItem) -> None:
        if self._previews is not None:
            self._previews.request(item.url)

    async def _attach_previews(self, items: list[ContentItem]) -> None:
        if self._previews is not None:
            await self._previews.attach(items)

    def _source_admin(self) -> SourceAdmin:
        if self._sources is None:
            raise Unavailable("feed sources are switched off in this deployment (ADVOCACY_CONTENT_SOURCES_ENABLED)")
        return self._sources

    async def _create(self, source: ContentItem, status: int, author_id: str, suggested_by: str = "") -> ContentItem:
        item = _editable_copy(source)
        _validated(item)
        now = utcnow()
        item.content_id = new_id()
        item.status = status  # type: ignore[assignment]
        item.version = 1
        item.suggested_by = suggested_by
        if author_id:
            item.author_id = author_id
        item.created_at.CopyFrom(to_timestamp(now))
        item.updated_at.CopyFrom(to_timestamp(now))
        await self._repo.insert(item)
        self._request_preview(item)
        return item

    async def CreateContent(
        self, request: content_pb2.CreateContentRequest, context: grpc.aio.ServicerContext
    ) -> ContentItem:
        check_request_id(request.item.author_id, "item.author_id", optional=True)
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
        item = await self._get(request.content_id)
        caller = current_caller()
        if caller is not None and caller.role == ADVOCATE and not _visible_to_advocate(item, caller.subject):
            # Drafts, reviews and rejections are the program team's: to an advocate they do not exist.
            raise NotFound(f"content {request.content_id!r} not found")
        await self._attach_previews([item])
        return item

    async def _get(self, content_id: str) -> ContentItem:
        check_request_id(content_id, "content_id")
        item = await self._repo.get(content_id)
        if item is None:
            raise NotFound(str(ItemNotFound(content_id)))
        return item

    async def EditContent(
        self, request: content_pb2.EditContentRequest, context: grpc.aio.ServicerContext
    ) -> ContentItem:
        if request.expected_version <= 0:
            raise InvalidArgument("expected_version: required (the version the edit is based on)")
        check_request_id(request.actor_id, "actor_id", optional=True)
        check_request_id(request.item.author_id, "item.author_id", optional=True)
        current = await self._get(request.content_id)
        self._check_version(request.expected_version, current)
        try:
            new_status = transition(status_of(current), Action.EDIT)
        except IllegalTransition as exc:
            raise FailedPrecondition(str(exc)) from exc
        item = _editable_copy(request.item)
        _validated(item)
        item.content_id = current.content_id
        item.status = proto_status(new_status)  # type: ignore[assignment]
        item.version = current.version + 1
        item.author_id = current.author_id or request.item.author_id
        item.suggested_by = current.suggested_by
        item.created_at.CopyFrom(current.created_at)
        item.updated_at.CopyFrom(to_timestamp(utcnow()))
        if not await self._repo.replace(item, current.version, [], expected_status=current.status):
            raise Aborted(CONCURRENT_CHANGE)
        self._request_preview(item)
        return item

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

    @staticmethod
    def _check_version(expected: int, item: ContentItem) -> None:
        try:
            check_expected_version(expected, item)
        except InvalidExpectedVersion as exc:
            raise InvalidArgument(str(exc)) from exc
        except VersionConflict as exc:
            raise Aborted(str(exc)) from exc

    async def _transition(self, request: content_pb2.TransitionRequest, action: Action) -> ContentItem:
        check_request_id(request.actor_id, "actor_id", optional=True)
        if len(request.reason) > MAX_SUMMARY:
            raise InvalidArgument(f"reason: at most {MAX_SUMMARY} characters")
        check_request_id(request.content_id, "content_id")
        try:
            return await self._transitions(
                request.content_id, action, request.expected_version, request.actor_id, request.reason
            )
        except ItemNotFound as exc:
            raise NotFound(str(exc)) from exc
        except InvalidExpectedVersion as exc:
            raise InvalidArgument(str(exc)) from exc
        except VersionConflict as exc:
            raise Aborted(str(exc)) from exc
        except (IllegalTransition, AlreadyExpired) as exc:
            raise FailedPrecondition(str(exc)) from exc

    async def ListContent(
        self, request: content_pb2.ListContentRequest, context: grpc.aio.ServicerContext
    ) -> content_pb2.ListContentResponse:
        size = paging.page_size(request.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        if request.status not in ContentStatus.values():
            raise InvalidArgument(f"status: unknown value {request.status}")
        after: str | None = None
        if request.page_token:
            try:
                after = base64.b64decode(request.page_token, altchars=b"-_", validate=True).decode()
            except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
                raise InvalidArgument("page_token: not a token this service issued") from exc
            if not _CONTENT_ID.fullmatch(after):
                raise InvalidArgument("page_token: not a token this service issued")
        items = await self._repo.list_items(request.status, after, size + 1)
        more = len(items) > size
        items = items[:size]
        token = base64.urlsafe_b64encode(items[-1].content_id.encode()).decode() if more else ""
        return content_pb2.ListContentResponse(items=items, next_page_token=token)

    async def ListFeed(
        self, request: content_pb2.ListFeedRequest, context: grpc.aio.ServicerContext
    ) -> content_pb2.ListFeedResponse:
        check_request_id(request.advocate_id, "advocate_id")
        size = paging.page_size(request.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        try:
            after = feed.decode_token(request.page_token) if request.page_token else None
        except feed.InvalidPageToken as exc:
            raise InvalidArgument(str(exc)) from exc
        assert self._views is not None, "ListFeed needs the feed views"
        viewer = await self._views.viewer(request.advocate_id)
        if viewer is None:
            # The view follows `advocate-changed`; a just-enrolled advocate may take a moment to appear.
            raise NotFound(f"advocate {request.advocate_id!r} not known to the content service (yet)")
        if not viewer.enrolled:
            # An error, not an empty page: a feed UI must tell "you have left the programme" apart
            # from "nothing to share right now" (and the share service refuses their shares alike).
            raise FailedPrecondition(
                f"advocate_id: advocate {request.advocate_id!r} is not enrolled (has left the programme); "
                "only enrolled advocates have a feed"
            )
        now = utcnow()
        candidates = {
            item.content_id: item for item in await self._repo.feed_candidates(viewer.dimension_values(), now)
        }
        ranked = [
            feed.rank(item.content_id, item.topics, from_timestamp(item.published_at), viewer)
            for item in candidates.values()
            # Belt and braces: the query already filtered on the normalised audience.
            if feed.in_audience(_fields(item).audience, viewer)
        ]
        selected, token = feed.page(ranked, size, after)
        shared = await self._views.shared_content_ids(viewer.advocate_id, [r.content_id for r in selected])
        await self._attach_previews([candidates[r.content_id] for r in selected])
        entries = [
            content_pb2.FeedEntry(
                item=candidates[r.content_id],
                already_shared=r.content_id in shared,
                matched_interests=list(r.matched),
                score=r.score,
            )
            for r in selected
        ]
        return content_pb2.ListFeedResponse(entries=entries, next_page_token=token)

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
