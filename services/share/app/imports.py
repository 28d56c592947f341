"""Use cases: import a previous tool's history (admin only). Advocates enrolled since a past
time, and their shares and own posts at past times, recorded by the same code as EnrollAdvocate,
RecordShare and RecordOwnPost with the given time instead of now, their events marked `imported`.

A batch is checked whole before anything is recorded: an error names the entry (`shares[3]...`),
so a migration script fixes its input and sends the batch again. Entries recorded by an earlier
import (same advocate and enrolment start; same advocate and idempotency key) are answered as
they were and not checked again. The campaigns' required lessons are not checked: they are
today's rules, the history predates them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TypeVar

from advocacy.common.v1.common_pb2 import Network
from advocacy.content.v1.content_pb2 import ContentItem, ContentStatus
from advocacy.share.v1.share_pb2 import Advocate, ImportedAdvocate, ImportedShare, NetworkConnection, Share
from grpc_interceptor.exceptions import FailedPrecondition, GrpcException, InvalidArgument, NotFound

from services.common.events import optional_time, utcnow
from services.common.outbox import OutboxEvent
from services.common.validation import check_past_time, check_request_id
from services.share.app.advocates import Advocates
from services.share.app.ports import AdvocateReader, ShareStore
from services.share.app.shares import (
    OwnPostRequest,
    RecordShare,
    ShareRequest,
    check_item,
    validate,
    validate_own_post,
)
from services.share.domain import advocates as rules
from services.share.domain.sharing import share_id_for

# Entries per call: a migration sends its history in batches of at most this many.
MAX_BATCH = 500
# Entries read or written at once (reads by `_id`, group-committed inserts).
CONCURRENCY = 32
# What an imported share may refer to: an item that was visible (and may have expired since).
_WAS_PUBLISHED = (ContentStatus.CONTENT_STATUS_PUBLISHED, ContentStatus.CONTENT_STATUS_EXPIRED)

T = TypeVar("T")


def check_batch(size: int, name: str) -> None:
    if size == 0:
        raise InvalidArgument(f"{name}: at least one entry")
    if size > MAX_BATCH:
        raise InvalidArgument(f"{name}: at most {MAX_BATCH} entries per call ({size} given); send several batches")


@contextmanager
def entry(name: str) -> Iterator[None]:
    """A refusal of one entry, named (`shares[3].network: ...`), with the status it had."""
    try:
        yield
    except GrpcException as exc:
        raise type(exc)(named(name, exc.details)) from exc


def named(name: str, details: str) -> str:
    """`shares[3].network: ...` for a message naming a field, `shares[3]: ...` for a sentence."""
    head = details.split(":", 1)[0]
    return f"{name}.{details}" if ":" in details and " " not in head else f"{name}: {details}"


async def bounded(steps: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Runs the steps at most CONCURRENCY at once; results in order, the first error raised."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def run(step: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await step()

    return list(await asyncio.gather(*(run(s) for s in steps)))


class ImportAdvocates:
    def __init__(self, advocates: Advocates, clock: Callable[[], datetime] = utcnow) -> None:
        self._advocates = advocates
        self._clock = clock

    async def __call__(self, entries: Sequence[ImportedAdvocate]) -> list[tuple[Advocate, bool]]:
        """(advocate, created) per entry, in order."""
        check_batch(len(entries), "advocates")
        now = self._clock()
        starts = [self._parse(i, e, now, entries) for i, e in enumerate(entries)]
        indexes = range(len(entries))
        await bounded([partial(self._check, i, entries[i], starts[i], now) for i in indexes])
        return await bounded([partial(self._import, i, entries[i], starts[i]) for i in indexes])

    @staticmethod
    def _parse(i: int, given: ImportedAdvocate, now: datetime, entries: Sequence[ImportedAdvocate]) -> datetime:
        name = f"advocates[{i}]"
        advocate_id = given.advocate.profile.advocate_id
        with entry(name):
            check_request_id(advocate_id, "advocate.profile.advocate_id")
            if any(e.advocate.profile.advocate_id == advocate_id for e in entries[:i]):
                raise InvalidArgument(f"advocate.profile.advocate_id: {advocate_id!r} is listed twice")
            enrolled_at = check_past_time(given, "enrolled_at", "enrolled_at", now)
            try:
                rules.import_enrolment(None, given.advocate, enrolled_at, now)
            except rules.InvalidAdvocate as exc:
                raise InvalidArgument(str(exc).removeprefix("advocate.")) from exc
        return enrolled_at

    async def _check(self, i: int, given: ImportedAdvocate, enrolled_at: datetime, now: datetime) -> None:
        """FAILED_PRECONDITION before anything is written, not half way through the batch."""
        with entry(f"advocates[{i}]"):
            try:
                current = await self._advocates.get(given.advocate.profile.advocate_id)
            except NotFound:
                return
            try:
                rules.import_enrolment(current, given.advocate, enrolled_at, now)
            except rules.HasHistory as exc:
                raise FailedPrecondition(str(exc)) from exc

    async def _import(self, i: int, given: ImportedAdvocate, enrolled_at: datetime) -> tuple[Advocate, bool]:
        with entry(f"advocates[{i}]"):
            return await self._advocates.import_enrolment(given.advocate, enrolled_at)


@dataclass(frozen=True)
class _Historical:
    request: ShareRequest | OwnPostRequest
    shared_at: datetime
    share_id: str


def _parse_share(i: int, given: ImportedShare, now: datetime) -> _Historical:
    with entry(f"shares[{i}]"):
        check_request_id(given.idempotency_key, "idempotency_key")
        target = given.WhichOneof("target")
        request: ShareRequest | OwnPostRequest
        if target == "content_id":
            request = ShareRequest(
                given.content_id, given.advocate_id, given.network, given.message, given.idempotency_key
            )
            validate(request)
        elif target == "own_post_url":
            request = OwnPostRequest(
                given.advocate_id, given.network, given.own_post_url, given.message, given.idempotency_key
            )
            try:
                validate_own_post(request)
            except InvalidArgument as exc:
                raise InvalidArgument(exc.details.replace("url:", "own_post_url:", 1)) from exc
        else:
            raise InvalidArgument("target: content_id or own_post_url is required")
        shared_at = check_past_time(given, "shared_at", "shared_at", now)
    return _Historical(request, shared_at, share_id_for(given.advocate_id, given.idempotency_key))


def check_was_enrolled(
    advocate: Advocate | None, request: ShareRequest | OwnPostRequest, when: datetime
) -> NetworkConnection:
    """The advocate's connection to the network, when they were enrolled at `when`."""
    if advocate is None:
        raise NotFound(f"advocate {request.advocate_id!r} not found")
    if not rules.enrolled_at(advocate, when):
        raise FailedPrecondition(f"advocate_id: the advocate was not enrolled at shared_at ({when.isoformat()})")
    connection = next((n for n in advocate.networks if n.network == request.network), None)
    if connection is None:
        raise FailedPrecondition(f"network: {Network.Name(request.network)} is not connected for this advocate")
    return connection


def check_was_published(
    request: ShareRequest, advocate: Advocate, item: ContentItem | None, when: datetime
) -> ContentItem:
    """The item, when it was published and not expired at `when` (and the advocate in its audience)."""
    published_at = optional_time(item, "published_at") if item is not None else None
    if item is not None and (item.status not in _WAS_PUBLISHED or published_at is None):
        raise FailedPrecondition(f"content_id: the item is {ContentStatus.Name(item.status)}, never published")
    if published_at is not None and published_at > when:
        raise FailedPrecondition(
            f"content_id: the item was published at {published_at.isoformat()}, after shared_at ({when.isoformat()})"
        )
    return check_item(request, advocate, item, when, published=True)


class ImportShares:
    def __init__(
        self, record: RecordShare, advocates: AdvocateReader, shares: ShareStore, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._record = record
        self._advocates = advocates
        self._shares = shares
        self._clock = clock

    async def __call__(self, entries: Sequence[ImportedShare]) -> list[tuple[Share, bool]]:
        """(share, created) per entry, in order."""
        check_batch(len(entries), "shares")
        now = self._clock()
        planned = [_parse_share(i, e, now) for i, e in enumerate(entries)]
        first: dict[str, int] = {}
        for i, p in enumerate(planned):
            if first.setdefault(p.share_id, i) != i:
                raise InvalidArgument(f"shares[{i}].idempotency_key: the advocate's key of shares[{first[p.share_id]}]")
        stored = await bounded([partial(self._shares.get, p.share_id) for p in planned])
        todo = [i for i, s in enumerate(stored) if s is None]
        advocates = await self._read({planned[i].request.advocate_id for i in todo}, self._advocates.get)
        content_ids = {r.content_id for i in todo if isinstance(r := planned[i].request, ShareRequest)}
        items = await self._read(content_ids, self._record.item)
        built = {i: self._build(i, planned[i], advocates, items) for i in todo}
        written = await bounded([partial(self._record.store, planned[i].request, *built[i]) for i in todo])
        results = dict(zip(todo, written, strict=True))
        return [results[i] if s is None else (s, False) for i, s in enumerate(stored)]

    @staticmethod
    async def _read(ids: set[str], get: Callable[[str], Awaitable[T | None]]) -> dict[str, T | None]:
        ordered = sorted(ids)
        found = await bounded([partial(get, k) for k in ordered])
        return dict(zip(ordered, found, strict=True))

    def _build(
        self,
        i: int,
        p: _Historical,
        advocates: Mapping[str, Advocate | None],
        items: Mapping[str, ContentItem | None],
    ) -> tuple[Advocate, Share, OutboxEvent]:
        key, request = p.request.idempotency_key, p.request
        with entry(f"shares[{i}]"):
            advocate = advocates[request.advocate_id]
            connection = check_was_enrolled(advocate, request, p.shared_at)
            assert advocate is not None
            if isinstance(request, OwnPostRequest):
                share, event = self._record.own_post_share(
                    request, p.share_id, key, connection, advocate, p.shared_at, imported=True
                )
            else:
                item = check_was_published(request, advocate, items[request.content_id], p.shared_at)
                share, event = self._record.item_share(
                    request, p.share_id, key, connection, advocate, item, p.shared_at, imported=True
                )
        return advocate, share, event
