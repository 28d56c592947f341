"""gRPC ShareService: enrol advocates and record shares (with `share-made` through the outbox)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable

import grpc
from advocacy.common.v1.common_pb2 import Network
from advocacy.content.v1.content_pb2 import ContentItem, ContentStatus
from advocacy.share.v1 import share_pb2, share_pb2_grpc
from advocacy.share.v1.share_pb2 import Advocate, Share, ShareMade
from grpc_interceptor.exceptions import FailedPrecondition, InvalidArgument, NotFound, Unavailable

from services.common.events import from_timestamp, new_event_id, to_timestamp, utcnow
from services.common.outbox import OutboxEvent
from services.common.topics import SHARE_MADE
from services.share.adapters.content_client import ContentClient, ContentUnavailable
from services.share.adapters.repository import AdvocateRepository, ShareRepository
from services.share.domain.sharing import (
    AdvocateTraits,
    AudienceRule,
    NotShareable,
    check_shareable,
    is_personal_wording,
)

MAX_ID = 128
MAX_MESSAGE = 5000
MAX_AUDIENCE = 1_000_000_000


def _traits(advocate: Advocate) -> AdvocateTraits:
    p = advocate.profile
    return AdvocateTraits(team=p.team, location=p.location, language=p.language, role=p.role)


def _audience(item: ContentItem) -> AudienceRule:
    a = item.audience
    return AudienceRule(
        teams=frozenset(a.teams),
        locations=frozenset(a.locations),
        languages=frozenset(a.languages),
        roles=frozenset(a.roles),
    )


def _check_id(value: str, field: str) -> str | None:
    if not value:
        return f"{field}: must not be empty"
    if len(value) > MAX_ID:
        return f"{field}: at most {MAX_ID} characters"
    return None


class ShareServicer(share_pb2_grpc.ShareServiceServicer):
    def __init__(
        self,
        advocates: AdvocateRepository,
        shares: ShareRepository,
        content: ContentClient,
        topic: Callable[[str], str],
        public_base_url: str,
        on_outbox_write: Callable[[str], None],
    ) -> None:
        self._advocates = advocates
        self._shares = shares
        self._content = content
        self._topic = topic
        self._base_url = public_base_url.rstrip("/")
        self._notify_outbox = on_outbox_write

    async def EnrollAdvocate(
        self, request: share_pb2.EnrollAdvocateRequest, context: grpc.aio.ServicerContext
    ) -> Advocate:
        advocate = Advocate()
        advocate.CopyFrom(request.advocate)
        if error := _check_id(advocate.profile.advocate_id, "advocate.profile.advocate_id"):
            raise InvalidArgument(error)
        seen: set[int] = set()
        for i, net in enumerate(advocate.networks):
            if net.network == Network.NETWORK_UNSPECIFIED:
                raise InvalidArgument(f"advocate.networks[{i}].network: must name a network")
            if net.network in seen:
                raise InvalidArgument(f"advocate.networks[{i}].network: listed twice")
            if not 0 <= net.audience_size <= MAX_AUDIENCE:
                raise InvalidArgument(f"advocate.networks[{i}].audience_size: must be 0..{MAX_AUDIENCE}")
            seen.add(net.network)
            if not net.HasField("refreshed_at"):
                net.refreshed_at.CopyFrom(to_timestamp(utcnow()))
        advocate.enrolled = True
        await self._advocates.upsert(advocate)
        return advocate

    async def GetAdvocate(self, request: share_pb2.GetAdvocateRequest, context: grpc.aio.ServicerContext) -> Advocate:
        if error := _check_id(request.advocate_id, "advocate_id"):
            raise InvalidArgument(error)
        advocate = await self._advocates.get(request.advocate_id)
        if advocate is None:
            raise NotFound(f"advocate {request.advocate_id!r} not found")
        return advocate

    async def RecordShare(
        self, request: share_pb2.RecordShareRequest, context: grpc.aio.ServicerContext
    ) -> share_pb2.RecordShareResponse:
        for value, field in ((request.content_id, "content_id"), (request.advocate_id, "advocate_id")):
            if error := _check_id(value, field):
                raise InvalidArgument(error)
        if request.network == Network.NETWORK_UNSPECIFIED or request.network not in Network.values():
            raise InvalidArgument("network: must name a known network")
        if len(request.message) > MAX_MESSAGE:
            raise InvalidArgument(f"message: at most {MAX_MESSAGE} characters")
        if len(request.idempotency_key) > MAX_ID:
            raise InvalidArgument(f"idempotency_key: at most {MAX_ID} characters")
        # Without a client key every call is a new share; with one, a retry returns the first share.
        key = request.idempotency_key or uuid.uuid4().hex
        if request.idempotency_key:
            existing = await self._shares.find_by_idempotency_key(request.advocate_id, key)
            if existing is not None:
                return share_pb2.RecordShareResponse(share=existing, created=False)

        advocate = await self.GetAdvocate(share_pb2.GetAdvocateRequest(advocate_id=request.advocate_id), context)
        if not advocate.enrolled:
            raise FailedPrecondition("the advocate is not enrolled")
        connection = next((n for n in advocate.networks if n.network == request.network), None)
        if connection is None:
            raise FailedPrecondition(
                f"network: {Network.Name(request.network)} is not connected for this advocate",
            )
        try:
            item = await self._content.get(request.content_id)
        except ContentUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        if item is None:
            raise NotFound(f"content {request.content_id!r} not found")
        now = utcnow()
        try:
            check_shareable(
                published=item.status == ContentStatus.CONTENT_STATUS_PUBLISHED,
                expires_at=from_timestamp(item.expires_at) if item.HasField("expires_at") else None,
                now=now,
                advocate=_traits(advocate),
                audience=_audience(item),
            )
        except NotShareable as exc:
            raise FailedPrecondition(str(exc)) from exc

        code = secrets.token_urlsafe(9)
        share = Share(
            share_id=uuid.uuid4().hex,
            content_id=item.content_id,
            advocate_id=advocate.profile.advocate_id,
            network=request.network,
            message=request.message,
            tracked_code=code,
            tracked_url=f"{self._base_url}/l/{code}",
            audience_size=connection.audience_size,
            shared_at=to_timestamp(now),
            idempotency_key=key,
        )
        suggested = [t.text for t in item.suggested_texts if t.network == request.network]
        event = ShareMade(
            event_id=new_event_id(),
            occurred_at=share.shared_at,
            share=share,
            advocate=advocate.profile,
            campaign_id=item.campaign_id,
            personal_wording=is_personal_wording(request.message, suggested),
        )
        if item.HasField("published_at"):
            event.content_published_at.CopyFrom(item.published_at)
        outbox = OutboxEvent(
            event_id=event.event_id,
            topic=self._topic(SHARE_MADE.name),
            key=share.advocate_id,
            value=event.SerializeToString(),
        )
        if not await self._shares.insert(share, [outbox]):
            # A concurrent retry with the same key won the race: answer with its share.
            existing = await self._shares.find_by_idempotency_key(request.advocate_id, key)
            assert existing is not None
            return share_pb2.RecordShareResponse(share=existing, created=False)
        self._notify_outbox(share.share_id)
        return share_pb2.RecordShareResponse(share=share, created=True)
