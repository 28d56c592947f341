"""gRPC ShareService: advocates (with `advocate-changed`), shares (with `share-made`), share
queries and engagement ingest (with `engagement-observed`), every event through an outbox.
Shares and engagement are use cases of `services.share.app`; this only translates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import grpc
from advocacy.share.v1 import share_pb2, share_pb2_grpc
from advocacy.share.v1.share_pb2 import Advocate, AdvocateChanged
from grpc_interceptor.exceptions import Aborted, InvalidArgument, NotFound
from prometheus_client import Counter

from services.common import paging
from services.common.events import new_event_id, to_timestamp, utcnow
from services.common.outbox import OutboxEvent
from services.common.retry import retrying
from services.common.topics import ADVOCATE_CHANGED
from services.common.validation import check_request_id
from services.share.adapters.advocates import AdvocateRepository
from services.share.adapters.repository import InvalidPageToken, ShareRepository
from services.share.app.engagement import RecordEngagement
from services.share.app.shares import RecordShare, ShareRequest
from services.share.domain import advocates as rules
from services.share.domain.links import network_source

# A business counter: new shares (retries excluded), by network (a small fixed set of values).
SHARES = Counter("advocacy_share_shares_total", "Shares recorded (retries of a recorded share excluded).", ["network"])

DEFAULT_PAGE = 50
MAX_PAGE = 500
# Compare-and-set attempts on an advocate before telling the client to retry.
SAVE_ATTEMPTS = 5


class _VersionConflict(Exception):
    """A concurrent write of the advocate won the compare-and-set."""


class ShareServicer(share_pb2_grpc.ShareServiceServicer):
    def __init__(
        self,
        advocates: AdvocateRepository,
        shares: ShareRepository,
        record_share: RecordShare,
        record_engagement: RecordEngagement,
        topic: Callable[[str], str],
        advocates_written: Callable[[], None],
    ) -> None:
        self._advocates = advocates
        self._shares = shares
        self._record_share = record_share
        self._record_engagement = record_engagement
        self._topic = topic
        # Wakes the advocates' relay (ordered: it sweeps in write order, for a compacted topic).
        self._advocates_written = advocates_written

    # --- advocates -----------------------------------------------------------------------------

    async def _change(
        self, advocate_id: str, change: Callable[[Advocate | None, datetime], Advocate | None]
    ) -> Advocate:
        """Reads, applies `change`, stores the result with its `advocate-changed` event (compare-and-set
        on the version; re-read and re-apply when a concurrent write won). None from `change` = no-op."""
        # A lost compare-and-set is retried at once: the next read sees the winner's version.
        policy = retrying(
            retry_on=_VersionConflict,
            event="advocate_save_conflict",
            first_seconds=0,
            attempts=SAVE_ATTEMPTS,
            log_level="info",
            advocate_id=advocate_id,
        )
        try:
            return await policy(self._change_once, advocate_id, change)
        except _VersionConflict:
            raise Aborted(f"advocate {advocate_id!r} is being changed concurrently; retry") from None

    async def _change_once(
        self, advocate_id: str, change: Callable[[Advocate | None, datetime], Advocate | None]
    ) -> Advocate:
        current = await self._advocates.get(advocate_id)
        now = utcnow()
        try:
            nxt = change(current, now)
        except rules.InvalidAdvocate as exc:
            raise InvalidArgument(str(exc)) from exc
        if nxt is None:
            assert current is not None
            return current
        event = AdvocateChanged(
            event_id=new_event_id(),
            occurred_at=to_timestamp(now),
            advocate=nxt,
            enrolments=list(nxt.enrolments),
            version=nxt.version,
        )
        outbox = OutboxEvent.of(event, self._topic(ADVOCATE_CHANGED.name), key=advocate_id)
        if not await self._advocates.save(nxt, outbox):
            raise _VersionConflict(advocate_id)
        self._advocates_written()
        return nxt

    async def _existing(self, advocate_id: str, field: str) -> Advocate:
        check_request_id(advocate_id, field)
        advocate = await self._advocates.get(advocate_id)
        if advocate is None:
            raise NotFound(f"advocate {advocate_id!r} not found")
        return advocate

    def _require(self, current: Advocate | None, advocate_id: str) -> Advocate:
        if current is None:
            raise NotFound(f"advocate {advocate_id!r} not found")
        return current

    async def EnrollAdvocate(
        self, request: share_pb2.EnrollAdvocateRequest, context: grpc.aio.ServicerContext
    ) -> Advocate:
        advocate_id = request.advocate.profile.advocate_id
        check_request_id(advocate_id, "advocate.profile.advocate_id")
        return await self._change(advocate_id, lambda cur, now: rules.enrol(cur, request.advocate, now))

    async def GetAdvocate(self, request: share_pb2.GetAdvocateRequest, context: grpc.aio.ServicerContext) -> Advocate:
        return await self._existing(request.advocate_id, "advocate_id")

    async def Leave(self, request: share_pb2.LeaveRequest, context: grpc.aio.ServicerContext) -> Advocate:
        await self._existing(request.advocate_id, "advocate_id")
        return await self._change(
            request.advocate_id, lambda cur, now: rules.leave(self._require(cur, request.advocate_id), now)
        )

    async def UpdateProfile(
        self, request: share_pb2.UpdateProfileRequest, context: grpc.aio.ServicerContext
    ) -> Advocate:
        advocate_id = request.profile.advocate_id
        await self._existing(advocate_id, "profile.advocate_id")
        return await self._change(
            advocate_id,
            lambda cur, now: rules.update_profile(self._require(cur, advocate_id), request.profile, request.interests),
        )

    async def ConnectNetwork(
        self, request: share_pb2.ConnectNetworkRequest, context: grpc.aio.ServicerContext
    ) -> Advocate:
        await self._existing(request.advocate_id, "advocate_id")
        return await self._change(
            request.advocate_id,
            lambda cur, now: rules.connect_network(self._require(cur, request.advocate_id), request.connection, now),
        )

    async def DisconnectNetwork(
        self, request: share_pb2.DisconnectNetworkRequest, context: grpc.aio.ServicerContext
    ) -> Advocate:
        await self._existing(request.advocate_id, "advocate_id")
        return await self._change(
            request.advocate_id,
            lambda cur, now: rules.disconnect_network(self._require(cur, request.advocate_id), request.network),
        )

    # --- shares --------------------------------------------------------------------------------

    async def RecordShare(
        self, request: share_pb2.RecordShareRequest, context: grpc.aio.ServicerContext
    ) -> share_pb2.RecordShareResponse:
        share, created = await self._record_share(
            ShareRequest(
                content_id=request.content_id,
                advocate_id=request.advocate_id,
                network=request.network,
                message=request.message,
                idempotency_key=request.idempotency_key,
                sharer_client_ip=request.sharer_client_ip,
                sharer_user_agent=request.sharer_user_agent,
            )
        )
        if created:
            SHARES.labels(network_source(share.network)).inc()
        return share_pb2.RecordShareResponse(share=share, created=created)

    async def ListSharesByAdvocate(
        self, request: share_pb2.ListSharesByAdvocateRequest, context: grpc.aio.ServicerContext
    ) -> share_pb2.ListSharesResponse:
        check_request_id(request.advocate_id, "advocate_id")
        return await self._list("advocate_id", request.advocate_id, request.page_size, request.page_token)

    async def ListSharesByContent(
        self, request: share_pb2.ListSharesByContentRequest, context: grpc.aio.ServicerContext
    ) -> share_pb2.ListSharesResponse:
        check_request_id(request.content_id, "content_id")
        return await self._list("content_id", request.content_id, request.page_size, request.page_token)

    async def _list(self, field: str, value: str, page_size: int, token: str) -> share_pb2.ListSharesResponse:
        size = paging.page_size(page_size, DEFAULT_PAGE, MAX_PAGE)
        try:
            shares, next_token = await self._shares.page(field, value, size, token)
        except InvalidPageToken as exc:
            raise InvalidArgument(str(exc)) from exc
        return share_pb2.ListSharesResponse(shares=shares, next_page_token=next_token)

    # --- engagement ingest ---------------------------------------------------------------------

    async def RecordEngagement(
        self, request: share_pb2.RecordEngagementRequest, context: grpc.aio.ServicerContext
    ) -> share_pb2.RecordEngagementResponse:
        results = await self._record_engagement(list(request.reports))
        return share_pb2.RecordEngagementResponse(
            results=[
                share_pb2.EngagementResult(event_id=r.event_id, created=r.created, share_id=r.share_id) for r in results
            ]
        )
