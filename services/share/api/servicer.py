"""gRPC ShareService: advocates (with `advocate-changed`), shares (with `share-made`), share
queries and engagement ingest (with `engagement-observed`), every event through an outbox.
Advocates, shares and engagement are use cases of `services.share.app`; this only translates."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import grpc
from advocacy.share.v1 import share_pb2, share_pb2_grpc
from advocacy.share.v1.share_pb2 import Advocate
from grpc_interceptor.exceptions import InvalidArgument
from prometheus_client import Counter

from services.common import paging
from services.common.validation import check_request_id
from services.share.app.advocates import Advocates
from services.share.app.engagement import RecordEngagement
from services.share.app.imports import ImportAdvocates, ImportShares
from services.share.app.queries import InvalidPageToken, ListShares, SharePage
from services.share.app.shares import OwnPostRequest, RecordShare, ShareRequest
from services.share.domain.links import network_source

# A business counter: new shares (retries excluded), by network (a small fixed set of values).
SHARES = Counter("advocacy_share_shares_total", "Shares recorded (retries of a recorded share excluded).", ["network"])
IMPORTED = Counter(
    "advocacy_share_imported_total", "History imported (repeats excluded), by kind (advocate, share).", ["kind"]
)
OWN_POSTS = Counter("advocacy_share_own_posts_total", "Advocates' own posts recorded (retries excluded).", ["network"])

DEFAULT_PAGE = 50
MAX_PAGE = 500


@contextmanager
def _page_token() -> Iterator[None]:
    try:
        yield
    except InvalidPageToken as exc:
        raise InvalidArgument(str(exc)) from exc


def _shares(page: SharePage) -> share_pb2.ListSharesResponse:
    return share_pb2.ListSharesResponse(shares=page.shares, next_page_token=page.next_page_token)


class ShareServicer(share_pb2_grpc.ShareServiceServicer):
    def __init__(
        self,
        advocates: Advocates,
        list_shares: ListShares,
        record_share: RecordShare,
        record_engagement: RecordEngagement,
        import_advocates: ImportAdvocates | None = None,
        import_shares: ImportShares | None = None,
    ) -> None:
        self._import_advocates = import_advocates
        self._import_shares = import_shares
        self._advocates = advocates
        self._list_shares = list_shares
        self._record_share = record_share
        self._record_engagement = record_engagement

    # --- advocates -----------------------------------------------------------------------------

    async def EnrollAdvocate(
        self, request: share_pb2.EnrollAdvocateRequest, context: grpc.aio.ServicerContext
    ) -> Advocate:
        check_request_id(request.advocate.profile.advocate_id, "advocate.profile.advocate_id")
        return await self._advocates.enrol(request.advocate)

    async def GetAdvocate(self, request: share_pb2.GetAdvocateRequest, context: grpc.aio.ServicerContext) -> Advocate:
        check_request_id(request.advocate_id, "advocate_id")
        return await self._advocates.get(request.advocate_id)

    async def Leave(self, request: share_pb2.LeaveRequest, context: grpc.aio.ServicerContext) -> Advocate:
        check_request_id(request.advocate_id, "advocate_id")
        return await self._advocates.leave(request.advocate_id)

    async def UpdateProfile(
        self, request: share_pb2.UpdateProfileRequest, context: grpc.aio.ServicerContext
    ) -> Advocate:
        check_request_id(request.profile.advocate_id, "profile.advocate_id")
        return await self._advocates.update_profile(request.profile, request.interests)

    async def ConnectNetwork(
        self, request: share_pb2.ConnectNetworkRequest, context: grpc.aio.ServicerContext
    ) -> Advocate:
        check_request_id(request.advocate_id, "advocate_id")
        return await self._advocates.connect_network(request.advocate_id, request.connection)

    async def DisconnectNetwork(
        self, request: share_pb2.DisconnectNetworkRequest, context: grpc.aio.ServicerContext
    ) -> Advocate:
        check_request_id(request.advocate_id, "advocate_id")
        return await self._advocates.disconnect_network(request.advocate_id, request.network)

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

    async def RecordOwnPost(
        self, request: share_pb2.RecordOwnPostRequest, context: grpc.aio.ServicerContext
    ) -> share_pb2.RecordShareResponse:
        share, created = await self._record_share.own_post(
            OwnPostRequest(
                advocate_id=request.advocate_id,
                network=request.network,
                url=request.url,
                message=request.message,
                idempotency_key=request.idempotency_key,
                sharer_client_ip=request.sharer_client_ip,
                sharer_user_agent=request.sharer_user_agent,
            )
        )
        if created:
            OWN_POSTS.labels(network_source(share.network)).inc()
        return share_pb2.RecordShareResponse(share=share, created=created)

    async def ListSharesByAdvocate(
        self, request: share_pb2.ListSharesByAdvocateRequest, context: grpc.aio.ServicerContext
    ) -> share_pb2.ListSharesResponse:
        check_request_id(request.advocate_id, "advocate_id")
        size = paging.page_size(request.page_size, DEFAULT_PAGE, MAX_PAGE)
        with _page_token():
            page = await self._list_shares.by_advocate(request.advocate_id, size, request.page_token)
        return _shares(page)

    async def ListSharesByContent(
        self, request: share_pb2.ListSharesByContentRequest, context: grpc.aio.ServicerContext
    ) -> share_pb2.ListSharesResponse:
        check_request_id(request.content_id, "content_id")
        size = paging.page_size(request.page_size, DEFAULT_PAGE, MAX_PAGE)
        with _page_token():
            page = await self._list_shares.by_content(request.content_id, size, request.page_token)
        return _shares(page)

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

    # --- history import (admin) ----------------------------------------------------------------

    async def ImportAdvocates(
        self, request: share_pb2.ImportAdvocatesRequest, context: grpc.aio.ServicerContext
    ) -> share_pb2.ImportAdvocatesResponse:
        assert self._import_advocates is not None, "wired by the composition root"
        results = await self._import_advocates(list(request.advocates))
        IMPORTED.labels("advocate").inc(sum(created for _, created in results))
        return share_pb2.ImportAdvocatesResponse(
            results=[share_pb2.ImportedAdvocateResult(advocate=a, created=c) for a, c in results]
        )

    async def ImportShares(
        self, request: share_pb2.ImportSharesRequest, context: grpc.aio.ServicerContext
    ) -> share_pb2.ImportSharesResponse:
        assert self._import_shares is not None, "wired by the composition root"
        results = await self._import_shares(list(request.shares))
        IMPORTED.labels("share").inc(sum(created for _, created in results))
        return share_pb2.ImportSharesResponse(
            results=[share_pb2.RecordShareResponse(share=s, created=c) for s, c in results]
        )
