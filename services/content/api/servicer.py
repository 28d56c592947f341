"""gRPC ContentService: translates requests, applies the lifecycle, persists with its events."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

import grpc
from advocacy.common.v1.common_pb2 import Network
from advocacy.content.v1 import content_pb2, content_pb2_grpc
from advocacy.content.v1.content_pb2 import ContentItem, ContentPublished, ContentStatus
from grpc_interceptor.exceptions import Aborted, FailedPrecondition, InvalidArgument, NotFound

from services.common.events import new_event_id, to_timestamp, utcnow
from services.common.outbox import OutboxEvent
from services.common.topics import CONTENT_PUBLISHED
from services.content.adapters.repository import ContentRepository
from services.content.domain.lifecycle import (
    Action,
    ContentFields,
    IllegalTransition,
    InvalidContent,
    Status,
    transition,
    validate,
)


def _fields(item: ContentItem) -> ContentFields:
    return ContentFields(
        title=item.title,
        summary=item.summary,
        url=item.url,
        topics=tuple(item.topics),
        suggested_texts=tuple((Network.Name(t.network), t.text) for t in item.suggested_texts),
        publish_at=item.publish_at.ToDatetime() if item.HasField("publish_at") else None,
        expires_at=item.expires_at.ToDatetime() if item.HasField("expires_at") else None,
    )


class ContentServicer(content_pb2_grpc.ContentServiceServicer):
    def __init__(
        self, repository: ContentRepository, topic: Callable[[str], str], on_outbox_write: Callable[[str], None]
    ):
        self._repo = repository
        self._topic = topic
        self._notify_outbox = on_outbox_write

    async def CreateContent(
        self, request: content_pb2.CreateContentRequest, context: grpc.aio.ServicerContext
    ) -> ContentItem:
        item = ContentItem()
        item.CopyFrom(request.item)
        try:
            validate(_fields(item))
        except InvalidContent as exc:
            raise InvalidArgument(f"item.{exc}") from exc
        item.content_id = uuid.uuid4().hex
        item.status = ContentStatus.CONTENT_STATUS_DRAFT
        item.version = 1
        item.ClearField("published_at")
        item.rejection_reason = ""
        await self._repo.insert(item)
        return item

    async def GetContent(
        self, request: content_pb2.GetContentRequest, context: grpc.aio.ServicerContext
    ) -> ContentItem:
        if not request.content_id:
            raise InvalidArgument("content_id: must not be empty")
        item = await self._repo.get(request.content_id)
        if item is None:
            raise NotFound(f"content {request.content_id!r} not found")
        return item

    async def SubmitForReview(
        self, request: content_pb2.TransitionRequest, context: grpc.aio.ServicerContext
    ) -> ContentItem:
        return await self._transition(request, context, Action.SUBMIT)

    async def Approve(self, request: content_pb2.TransitionRequest, context: grpc.aio.ServicerContext) -> ContentItem:
        return await self._transition(request, context, Action.APPROVE)

    async def Reject(self, request: content_pb2.TransitionRequest, context: grpc.aio.ServicerContext) -> ContentItem:
        if not request.reason.strip():
            raise InvalidArgument("reason: required when rejecting")
        return await self._transition(request, context, Action.REJECT)

    async def Publish(self, request: content_pb2.TransitionRequest, context: grpc.aio.ServicerContext) -> ContentItem:
        return await self._transition(request, context, Action.PUBLISH)

    async def _transition(
        self, request: content_pb2.TransitionRequest, context: grpc.aio.ServicerContext, action: Action
    ) -> ContentItem:
        item = await self.GetContent(content_pb2.GetContentRequest(content_id=request.content_id), context)
        if request.expected_version and request.expected_version != item.version:
            raise Aborted(
                f"version conflict: expected {request.expected_version}, current is {item.version}",
            )
        current = Status(ContentStatus.Name(item.status).removeprefix("CONTENT_STATUS_"))
        try:
            new_status = transition(current, action)
        except IllegalTransition as exc:
            raise FailedPrecondition(str(exc)) from exc
        now = utcnow()
        previous_version = item.version
        item.status = ContentStatus.Value(f"CONTENT_STATUS_{new_status.value}")
        item.version += 1
        if action is Action.REJECT:
            item.rejection_reason = request.reason
        if action in (Action.APPROVE, Action.REJECT):
            item.reviewer_id = request.actor_id
        events: list[OutboxEvent] = []
        if action is Action.PUBLISH:
            item.published_at.CopyFrom(to_timestamp(now))
            events.append(self._published_event(item, ContentPublished.KIND_PUBLISHED, now))
        if not await self._repo.replace(item, previous_version, events):
            raise Aborted("the item changed concurrently; read it again and retry")
        if events:
            self._notify_outbox(item.content_id)
        return item

    def _published_event(self, item: ContentItem, kind: int, now: datetime) -> OutboxEvent:
        event = ContentPublished(event_id=new_event_id(), occurred_at=to_timestamp(now), kind=kind, item=item)
        return OutboxEvent(
            event_id=event.event_id,
            topic=self._topic(CONTENT_PUBLISHED.name),
            key=item.content_id,
            value=event.SerializeToString(),
        )
