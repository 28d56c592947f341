"""gRPC ShareService: advocates (with `advocate-changed`), shares (with `share-made`), share
queries and engagement ingest (with `engagement-observed`), every event through an outbox."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import grpc
from advocacy.common.v1.common_pb2 import Network
from advocacy.content.v1.content_pb2 import ContentItem, ContentStatus
from advocacy.share.v1 import share_pb2, share_pb2_grpc
from advocacy.share.v1.share_pb2 import Advocate, AdvocateChanged, EngagementObserved, Share, ShareMade
from grpc_interceptor.exceptions import Aborted, FailedPrecondition, InvalidArgument, NotFound, Unavailable
from prometheus_client import Counter

from services.common.events import from_timestamp, new_event_id, to_timestamp, utcnow
from services.common.outbox import OutboxEvent
from services.common.topics import ADVOCATE_CHANGED, ENGAGEMENT_OBSERVED, SHARE_MADE
from services.share.adapters.content_client import ContentClient, ContentUnavailable
from services.share.adapters.repository import (
    AdvocateRepository,
    EngagementRecord,
    EngagementRepository,
    InvalidPageToken,
    ShareRepository,
    TrackedShare,
)
from services.share.domain import advocates as rules
from services.share.domain.engagement import MAX_BATCH, InvalidReport, idempotency_id, validate_report
from services.share.domain.links import fingerprint, is_http_url, target_url
from services.share.domain.sharing import (
    AdvocateTraits,
    AudienceRule,
    NotShareable,
    check_shareable,
    is_personal_wording,
    share_id_for,
)

# A business counter: new shares (retries excluded), by network (a small fixed set of values).
SHARES = Counter("advocacy_share_shares_total", "Shares recorded (retries of a recorded share excluded).", ["network"])

MAX_ID = 128
MAX_MESSAGE = 5000
MAX_CLIENT_FIELD = 1000
DEFAULT_PAGE = 50
MAX_PAGE = 500
# Compare-and-set attempts on an advocate before telling the client to retry.
SAVE_ATTEMPTS = 5


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


def _check_id(value: str, field: str) -> None:
    if not value:
        raise InvalidArgument(f"{field}: must not be empty")
    if len(value) > MAX_ID:
        raise InvalidArgument(f"{field}: at most {MAX_ID} characters")


def _page_size(value: int) -> int:
    if value == 0:
        return DEFAULT_PAGE
    if not 1 <= value <= MAX_PAGE:
        raise InvalidArgument(f"page_size: must be 1..{MAX_PAGE}")
    return value


# (document id, its outbox as written): the relay sends that without reading or sweeping.
Notify = Callable[[str, list[dict[str, Any]]], None]


@dataclass(frozen=True)
class Outboxes:
    """Wakes the relay of the collection a call wrote to."""

    # Ordered (a compacted topic): that relay sweeps in write order.
    advocates: Callable[[], None]
    shares: Notify
    engagements: Notify


class ShareServicer(share_pb2_grpc.ShareServiceServicer):
    def __init__(
        self,
        advocates: AdvocateRepository,
        shares: ShareRepository,
        engagements: EngagementRepository,
        content: ContentClient,
        topic: Callable[[str], str],
        public_base_url: str,
        fingerprint_salt: str,
        outboxes: Outboxes,
    ) -> None:
        self._advocates = advocates
        self._shares = shares
        self._engagements = engagements
        self._content = content
        self._topic = topic
        self._base_url = public_base_url.rstrip("/")
        self._salt = fingerprint_salt
        self._outboxes = outboxes

    # --- advocates -----------------------------------------------------------------------------

    async def _change(
        self, advocate_id: str, change: Callable[[Advocate | None, datetime], Advocate | None]
    ) -> Advocate:
        """Reads, applies `change`, stores the result with its `advocate-changed` event (compare-and-set
        on the version; re-read and re-apply when a concurrent write won). None from `change` = no-op."""
        for _ in range(SAVE_ATTEMPTS):
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
            outbox = OutboxEvent(
                event_id=event.event_id,
                topic=self._topic(ADVOCATE_CHANGED.name),
                key=advocate_id,
                value=event.SerializeToString(),
            )
            if await self._advocates.save(nxt, outbox):
                self._outboxes.advocates()
                return nxt
        raise Aborted(f"advocate {advocate_id!r} is being changed concurrently; retry")

    async def _existing(self, advocate_id: str, field: str) -> Advocate:
        _check_id(advocate_id, field)
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
        _check_id(advocate_id, "advocate.profile.advocate_id")
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
        for value, field in ((request.content_id, "content_id"), (request.advocate_id, "advocate_id")):
            _check_id(value, field)
        if request.network == Network.NETWORK_UNSPECIFIED or request.network not in Network.values():
            raise InvalidArgument("network: must name a known network")
        if len(request.message) > MAX_MESSAGE:
            raise InvalidArgument(f"message: at most {MAX_MESSAGE} characters")
        if len(request.idempotency_key) > MAX_ID:
            raise InvalidArgument(f"idempotency_key: at most {MAX_ID} characters")
        for value, field in (
            (request.sharer_client_ip, "sharer_client_ip"),
            (request.sharer_user_agent, "sharer_user_agent"),
        ):
            if len(value) > MAX_CLIENT_FIELD:
                raise InvalidArgument(f"{field}: at most {MAX_CLIENT_FIELD} characters")
        # Without a client key every call is a new share; with one, a retry returns the first share.
        key = request.idempotency_key or uuid.uuid4().hex
        share_id = share_id_for(request.advocate_id, key)

        async def first_share() -> Share | None:
            return await self._shares.get(share_id) if request.idempotency_key else None

        async def content_item() -> ContentItem | ContentUnavailable | None:
            try:
                return await self._content.get(request.content_id)
            except ContentUnavailable as exc:
                return exc

        # Independent reads, each by `_id` (or one gRPC call): concurrently, one round trip of latency.
        existing, advocate, item = await asyncio.gather(
            first_share(), self._advocates.get(request.advocate_id), content_item()
        )
        if existing is not None:
            return share_pb2.RecordShareResponse(share=existing, created=False)
        if advocate is None:
            raise NotFound(f"advocate {request.advocate_id!r} not found")
        if not advocate.enrolled:
            raise FailedPrecondition("advocate_id: the advocate is not enrolled")
        connection = next((n for n in advocate.networks if n.network == request.network), None)
        if connection is None:
            raise FailedPrecondition(
                f"network: {Network.Name(request.network)} is not connected for this advocate",
            )
        if isinstance(item, ContentUnavailable):
            raise Unavailable(str(item)) from item
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
        if not is_http_url(item.url):
            # The tracked link may only ever lead to an http(s) page of the item itself.
            raise FailedPrecondition("content_id: the item has no http(s) URL to link to")

        # The tracked code is the share id: a click finds the share with one `_id` read.
        code = share_id
        share = Share(
            share_id=share_id,
            content_id=item.content_id,
            advocate_id=advocate.profile.advocate_id,
            network=request.network,
            message=request.message,
            tracked_code=code,
            tracked_url=f"{self._base_url}/l/{code}",
            audience_size=connection.audience_size,
            shared_at=to_timestamp(now),
            idempotency_key=key,
            campaign_id=item.campaign_id,
            target_url=target_url(
                item.url,
                network=request.network,
                campaign_id=item.campaign_id,
                content_id=item.content_id,
                share_id=share_id,
            ),
        )
        suggested = [t.text for t in item.suggested_texts]
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
        sharer = (
            fingerprint(self._salt, request.sharer_client_ip, request.sharer_user_agent)
            if request.sharer_client_ip or request.sharer_user_agent
            else ""
        )
        stored, written = await self._shares.insert(share, advocate.profile, sharer, [outbox])
        if written is None:
            # A concurrent retry with the same key won the race: answer with its share.
            return share_pb2.RecordShareResponse(share=stored, created=False)
        self._outboxes.shares(share.share_id, written)
        SHARES.labels(Network.Name(request.network).removeprefix("NETWORK_").lower()).inc()
        return share_pb2.RecordShareResponse(share=share, created=True)

    async def ListSharesByAdvocate(
        self, request: share_pb2.ListSharesByAdvocateRequest, context: grpc.aio.ServicerContext
    ) -> share_pb2.ListSharesResponse:
        _check_id(request.advocate_id, "advocate_id")
        return await self._list("advocate_id", request.advocate_id, request.page_size, request.page_token)

    async def ListSharesByContent(
        self, request: share_pb2.ListSharesByContentRequest, context: grpc.aio.ServicerContext
    ) -> share_pb2.ListSharesResponse:
        _check_id(request.content_id, "content_id")
        return await self._list("content_id", request.content_id, request.page_size, request.page_token)

    async def _list(self, field: str, value: str, page_size: int, token: str) -> share_pb2.ListSharesResponse:
        size = _page_size(page_size)
        try:
            shares, next_token = await self._shares.page(field, value, size, token)
        except InvalidPageToken as exc:
            raise InvalidArgument(str(exc)) from exc
        return share_pb2.ListSharesResponse(shares=shares, next_page_token=next_token)

    # --- engagement ingest ---------------------------------------------------------------------

    async def RecordEngagement(
        self, request: share_pb2.RecordEngagementRequest, context: grpc.aio.ServicerContext
    ) -> share_pb2.RecordEngagementResponse:
        if not 1 <= len(request.reports) <= MAX_BATCH:
            raise InvalidArgument(f"reports: 1..{MAX_BATCH} per call")
        now = utcnow()
        # Everything is validated and every share resolved before anything is written.
        for i, report in enumerate(request.reports):
            try:
                validate_report(report, f"reports[{i}]", now)
            except InvalidReport as exc:
                raise InvalidArgument(str(exc)) from exc
        # A share id and a tracked code are both the share's `_id` (old-shape shares: an alias).
        refs = [getattr(report, report.WhichOneof("target") or "share_id") for report in request.reports]
        distinct = list(dict.fromkeys(refs))
        found = dict(zip(distinct, await asyncio.gather(*(self._shares.by_id(r) for r in distinct)), strict=True))
        targets: list[TrackedShare] = []
        for i, (report, ref) in enumerate(zip(request.reports, refs, strict=True)):
            share = found[ref]
            if share is None:
                raise NotFound(f"reports[{i}].{report.WhichOneof('target')}: no such share")
            targets.append(share)

        records = []
        for report, share in zip(request.reports, targets, strict=True):
            event = EngagementObserved(
                event_id=new_event_id(),
                occurred_at=report.observed_at if report.HasField("observed_at") else to_timestamp(now),
                share_id=share.share_id,
                content_id=share.content_id,
                advocate=share.advocate,
                network=share.network,  # type: ignore[arg-type]
                kind=report.kind,
                count=report.count,
                source=report.source,
                actor_fingerprint=fingerprint(self._salt, "actor", report.actor_id) if report.actor_id else "",
                comment_text=report.comment_text,
                campaign_id=share.campaign_id,
            )
            outbox = OutboxEvent(
                event_id=event.event_id,
                topic=self._topic(ENGAGEMENT_OBSERVED.name),
                key=share.advocate_id,
                value=event.SerializeToString(),
            )
            records.append(
                EngagementRecord(idempotency_id(report), share.share_id, event.event_id, [outbox.to_document()])
            )
        stored = await self._engagements.insert_many(records)
        results = []
        for record, (event_id, created) in zip(records, stored, strict=True):
            if created:
                self._outboxes.engagements(record.record_id, record.outbox)
            results.append(share_pb2.EngagementResult(event_id=event_id, created=created, share_id=record.share_id))
        return share_pb2.RecordEngagementResponse(results=results)
