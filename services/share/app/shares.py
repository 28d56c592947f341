"""Use cases: record a share, and an advocate's own post through the same write path. Validates the
request, decides from the advocate, the item and the lessons the advocate completed (read from
local views, no call to another service on the hot path) whether it may be shared, and stores the
share with its `share-made` event in one write (group-committed by the store). An own post has no
item (nor campaign, nor required lessons): its URL and text are the advocate's. The history import
(app/imports.py) builds and stores past shares with the same `item_share`, `own_post_share` and
`store`, at their past time."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from advocacy.common.v1.common_pb2 import Network
from advocacy.content.v1.content_pb2 import ContentItem, ContentStatus
from advocacy.share.v1.share_pb2 import Advocate, NetworkConnection, Share, ShareMade
from grpc_interceptor.exceptions import FailedPrecondition, GrpcException, InvalidArgument, NotFound, Unavailable

from services.common.events import new_event_id, optional_time, to_timestamp, utcnow
from services.common.outbox import OutboxEvent
from services.common.topics import SHARE_MADE
from services.common.validation import check_request_id
from services.share.app.ports import (
    AdvocateReader,
    CompletionReader,
    ContentReader,
    ContentUnavailable,
    Notify,
    PrerequisiteReader,
    ShareStore,
)
from services.share.domain.links import fingerprint, is_http_url, target_url
from services.share.domain.own_posts import InvalidOwnUrl, check_own_url, own_post_content_id
from services.share.domain.sharing import (
    AdvocateTraits,
    AudienceRule,
    LessonsMissing,
    NotShareable,
    check_shareable,
    is_personal_wording,
    share_id_for,
)

MAX_MESSAGE = 5000
MAX_CLIENT_FIELD = 1000


@dataclass(frozen=True)
class ShareRequest:
    content_id: str
    advocate_id: str
    network: int
    message: str = ""
    idempotency_key: str = ""
    sharer_client_ip: str = ""
    sharer_user_agent: str = ""


@dataclass(frozen=True)
class OwnPostRequest:
    advocate_id: str
    network: int
    url: str
    message: str = ""
    idempotency_key: str = ""
    sharer_client_ip: str = ""
    sharer_user_agent: str = ""


# What the one write path needs of either request.
_Sharing = ShareRequest | OwnPostRequest
# Checks a request and builds (advocate, share, its share-made event) under (share id, key).
_Decide = Callable[[str, str], Awaitable[tuple[Advocate, Share, OutboxEvent]]]


def validate(request: ShareRequest) -> None:
    check_request_id(request.content_id, "content_id")
    _validate_common(request)


def validate_own_post(request: OwnPostRequest) -> None:
    try:
        check_own_url(request.url)
    except InvalidOwnUrl as exc:
        raise InvalidArgument(str(exc)) from exc
    _validate_common(request)


def _validate_common(request: _Sharing) -> None:
    check_request_id(request.advocate_id, "advocate_id")
    if request.network == Network.NETWORK_UNSPECIFIED or request.network not in Network.values():
        raise InvalidArgument("network: must name a known network")
    if len(request.message) > MAX_MESSAGE:
        raise InvalidArgument(f"message: at most {MAX_MESSAGE} characters")
    check_request_id(request.idempotency_key, "idempotency_key", optional=True)
    for value, field in (
        (request.sharer_client_ip, "sharer_client_ip"),
        (request.sharer_user_agent, "sharer_user_agent"),
    ):
        if len(value) > MAX_CLIENT_FIELD:
            raise InvalidArgument(f"{field}: at most {MAX_CLIENT_FIELD} characters")


def _audience(item: ContentItem) -> AudienceRule:
    a = item.audience
    return AudienceRule(frozenset(a.teams), frozenset(a.locations), frozenset(a.languages), frozenset(a.roles))


def check_may_post(request: _Sharing, advocate: Advocate | None) -> tuple[Advocate, NetworkConnection]:
    """The advocate and their connection to the network, when they may post there (enrolled, connected)."""
    if advocate is None:
        raise NotFound(f"advocate {request.advocate_id!r} not found")
    if not advocate.enrolled:
        raise FailedPrecondition("advocate_id: the advocate is not enrolled")
    connection = next((n for n in advocate.networks if n.network == request.network), None)
    if connection is None:
        raise FailedPrecondition(f"network: {Network.Name(request.network)} is not connected for this advocate")
    return advocate, connection


def check_may_share(
    request: ShareRequest, advocate: Advocate | None, item: ContentItem | None, now: datetime
) -> tuple[Advocate, NetworkConnection, ContentItem]:
    """The advocate, their connection to the network and the item, when this share is allowed."""
    advocate, connection = check_may_post(request, advocate)
    published = item is not None and item.status == ContentStatus.CONTENT_STATUS_PUBLISHED
    return advocate, connection, check_item(request, advocate, item, now, published)


def check_item(
    request: ShareRequest, advocate: Advocate, item: ContentItem | None, when: datetime, published: bool
) -> ContentItem:
    """The item, when the advocate may share it at `when` (`published`: it was visible then)."""
    if item is None:
        raise NotFound(f"content {request.content_id!r} not found")
    p = advocate.profile
    try:
        check_shareable(
            published=published,
            expires_at=optional_time(item, "expires_at"),
            now=when,
            advocate=AdvocateTraits(team=p.team, location=p.location, language=p.language, role=p.role),
            audience=_audience(item),
        )
    except NotShareable as exc:
        raise FailedPrecondition(str(exc)) from exc
    if not is_http_url(item.url):
        # The tracked link may only ever lead to an http(s) page of the item itself.
        raise FailedPrecondition("content_id: the item has no http(s) URL to link to")
    return item


class LessonCheck:
    """Whether the advocate completed every lesson the item's campaign requires: dict lookups in
    local views. Only a share that looks refused waits (briefly) for the completions view to read
    what Kafka held when it was asked, so a lesson completed just before sharing counts."""

    def __init__(
        self, prerequisites: PrerequisiteReader, completions: CompletionReader, clock: Callable[[], float] = time.time
    ) -> None:
        self._prerequisites = prerequisites
        self._completions = completions
        self._clock = clock

    async def __call__(self, advocate_id: str, campaign_id: str) -> None:
        """Raises FailedPrecondition naming the missing lessons, Unavailable when they cannot be told."""
        if not campaign_id:
            return
        asked_at = self._clock()
        try:
            required = await self._prerequisites.required(campaign_id)
        except ContentUnavailable as exc:
            raise Unavailable(f"the campaign's required lessons cannot be read now: {exc}") from exc
        if not required or not self._completions.missing(advocate_id, required):
            return
        caught_up = await self._completions.caught_up(asked_at)
        missing = self._completions.missing(advocate_id, required)
        if not missing:
            return
        if not caught_up and not self._completions.current:
            raise Unavailable("completed lessons cannot be checked now (catching up with Kafka); retry shortly")
        raise FailedPrecondition(str(LessonsMissing(missing)))


class RecordShare:
    def __init__(
        self,
        advocates: AdvocateReader,
        content: ContentReader,
        shares: ShareStore,
        topic: Callable[[str], str],
        public_base_url: str,
        fingerprint_salt: str,
        notify: Notify,
        clock: Callable[[], datetime] = utcnow,
        lessons: LessonCheck | None = None,
    ) -> None:
        # None: no campaign requires lessons (unit tests of other rules).
        self._lessons = lessons
        self._advocates = advocates
        self._content = content
        self._shares = shares
        self._topic = topic
        self._base_url = public_base_url.rstrip("/")
        self._salt = fingerprint_salt
        self._notify = notify
        self._clock = clock

    async def __call__(self, request: ShareRequest) -> tuple[Share, bool]:
        """(the share, created): a retry with the same idempotency key answers the first share."""
        validate(request)
        return await self._record(request, self._item_share(request))

    async def own_post(self, request: OwnPostRequest) -> tuple[Share, bool]:
        """An advocate's own post, recorded and announced as a share (`Share.own_post`)."""
        validate_own_post(request)
        return await self._record(request, self._own_share(request))

    async def _record(self, request: _Sharing, decide: _Decide) -> tuple[Share, bool]:
        """The one write path of shares and own posts: `decide` checks the request and builds the
        share with its `share-made` event; stored in one write, then handed to the relay."""
        # Without a client key every call is a new share; with one, a retry returns the first share.
        key = request.idempotency_key or uuid.uuid4().hex
        share_id = share_id_for(request.advocate_id, key)
        try:
            advocate, share, event = await decide(share_id, key)
        except GrpcException:
            # A retry of a share recorded before (the item since expired, say) still gets its share.
            existing = await self._shares.get(share_id) if request.idempotency_key else None
            if existing is None:
                raise
            return existing, False
        return await self.store(request, advocate, share, event)

    async def store(
        self, request: _Sharing, advocate: Advocate, share: Share, event: OutboxEvent
    ) -> tuple[Share, bool]:
        """Stores the share with its `share-made` event in one write and hands it to the relay;
        (the share that holds its id, False) when an earlier call with the same key won."""
        stored, written = await self._shares.insert(share, advocate.profile, self._sharer(request), [event])
        if written is None:
            # A concurrent or earlier call with the same key won: answer with its share.
            return stored, False
        self._notify(share.share_id, written)
        return share, True

    def _item_share(self, request: ShareRequest) -> _Decide:
        async def decide(share_id: str, key: str) -> tuple[Advocate, Share, OutboxEvent]:
            advocate, item = await asyncio.gather(self._advocates.get(request.advocate_id), self._item(request))
            now = self._clock()
            advocate, connection, item = check_may_share(request, advocate, item, now)
            if self._lessons is not None:
                await self._lessons(request.advocate_id, item.campaign_id)
            return advocate, *self.item_share(request, share_id, key, connection, advocate, item, now)

        return decide

    def _own_share(self, request: OwnPostRequest) -> _Decide:
        async def decide(share_id: str, key: str) -> tuple[Advocate, Share, OutboxEvent]:
            advocate, connection = check_may_post(request, await self._advocates.get(request.advocate_id))
            return advocate, *self.own_post_share(request, share_id, key, connection, advocate, self._clock())

        return decide

    def own_post_share(
        self,
        request: OwnPostRequest,
        share_id: str,
        key: str,
        connection: NetworkConnection,
        advocate: Advocate,
        when: datetime,
        imported: bool = False,
    ) -> tuple[Share, OutboxEvent]:
        """The own post shared at `when` and its `share-made` event (`imported`: migrated history)."""
        # The link leads to the URL as given.
        share = self._tracked(
            request,
            share_id,
            key,
            connection,
            when,
            content_id=own_post_content_id(request.advocate_id, request.url),
            target_url=request.url,
            own_post=True,
        )
        # No campaign, no publication time (no early-sharer ranking), no personal wording.
        event = ShareMade(
            event_id=new_event_id(),
            occurred_at=share.shared_at,
            share=share,
            advocate=advocate.profile,
            imported=imported,
        )
        return share, OutboxEvent.of(event, self._topic(SHARE_MADE.name), key=share.advocate_id)

    def item_share(
        self,
        request: ShareRequest,
        share_id: str,
        key: str,
        connection: NetworkConnection,
        advocate: Advocate,
        item: ContentItem,
        when: datetime,
        imported: bool = False,
    ) -> tuple[Share, OutboxEvent]:
        """The share of `item` made at `when` and its `share-made` event (`imported`: migrated history)."""
        share = self._share(request, share_id, key, connection, item, when)
        return share, self._event(request, share, advocate, item, imported)

    async def item(self, content_id: str) -> ContentItem | None:
        """The item as RecordShare reads it (the local view, else the content service)."""
        try:
            return await self._content.get(content_id)
        except ContentUnavailable as exc:
            raise Unavailable(str(exc)) from exc

    async def _item(self, request: ShareRequest) -> ContentItem | None:
        return await self.item(request.content_id)

    def _sharer(self, request: _Sharing) -> str:
        if not (request.sharer_client_ip or request.sharer_user_agent):
            return ""
        return fingerprint(self._salt, request.sharer_client_ip, request.sharer_user_agent)

    def _share(
        self,
        request: ShareRequest,
        share_id: str,
        key: str,
        connection: NetworkConnection,
        item: ContentItem,
        now: datetime,
    ) -> Share:
        return self._tracked(
            request,
            share_id,
            key,
            connection,
            now,
            content_id=item.content_id,
            campaign_id=item.campaign_id,
            target_url=target_url(
                item.url,
                network=request.network,
                campaign_id=item.campaign_id,
                content_id=item.content_id,
                share_id=share_id,
            ),
        )

    def _tracked(
        self,
        request: _Sharing,
        share_id: str,
        key: str,
        connection: NetworkConnection,
        when: datetime,
        **specific: Any,
    ) -> Share:
        """A share's fields common to items and own posts, with `specific` (content id, target...).
        The tracked code is the share id: a click finds the share with one `_id` read."""
        return Share(
            share_id=share_id,
            advocate_id=request.advocate_id,
            network=request.network,  # type: ignore[arg-type]
            message=request.message,
            tracked_code=share_id,
            tracked_url=f"{self._base_url}/l/{share_id}",
            audience_size=connection.audience_size,
            shared_at=to_timestamp(when),
            idempotency_key=key,
            **specific,
        )

    def _event(
        self, request: ShareRequest, share: Share, advocate: Advocate, item: ContentItem, imported: bool
    ) -> OutboxEvent:
        event = ShareMade(
            event_id=new_event_id(),
            occurred_at=share.shared_at,
            share=share,
            advocate=advocate.profile,
            campaign_id=item.campaign_id,
            # Every suggested text of the item, whatever network it was written for, is a copy.
            personal_wording=is_personal_wording(request.message, [t.text for t in item.suggested_texts]),
            imported=imported,
        )
        if item.HasField("published_at"):
            event.content_published_at.CopyFrom(item.published_at)
        return OutboxEvent.of(event, self._topic(SHARE_MADE.name), key=share.advocate_id)
