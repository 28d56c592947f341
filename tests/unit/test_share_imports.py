"""History import (ImportAdvocates, ImportShares) over in-memory fakes: past times only, the
advocate enrolled and the item published at shared_at, whole batches checked before anything is
written, repeats recorded once, events marked imported with occurred_at = the past time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.content.v1.content_pb2 import ContentStatus
from advocacy.share.v1.share_pb2 import (
    Advocate,
    AdvocateChanged,
    EnrolmentPeriod,
    ImportedAdvocate,
    ImportedShare,
    NetworkConnection,
    ShareMade,
)
from grpc_interceptor.exceptions import FailedPrecondition, InvalidArgument, NotFound

from services.common.events import from_timestamp, to_timestamp
from services.share.app.imports import MAX_BATCH, ImportAdvocates, ImportShares
from tests.unit.test_share_advocate_changes import MemoryAdvocates, use_cases
from tests.unit.test_share_app import NOW, Advocates, Content, Notified, Shares, item
from tests.unit.test_share_app import use_case as record_use_case

DAY = timedelta(days=1)
ENROLLED = NOW - 90 * DAY
PUBLISHED = NOW - 60 * DAY


def profile(advocate_id: str = "aino") -> Advocate:
    return Advocate(
        profile=AdvocateSnapshot(advocate_id=advocate_id, team="sales"),
        networks=[NetworkConnection(network=Network.NETWORK_LINKEDIN, audience_size=800)],
    )


def migrated(advocate_id: str = "aino", enrolled_at: datetime = ENROLLED, left_at: datetime | None = None) -> Advocate:
    a = profile(advocate_id)
    a.enrolled = left_at is None
    a.version = 1
    period = EnrolmentPeriod(enrolled_at=to_timestamp(enrolled_at))
    if left_at is not None:
        period.left_at.CopyFrom(to_timestamp(left_at))
    a.enrolments.append(period)
    return a


def imported_advocate(advocate_id: str = "aino", enrolled_at: datetime | None = ENROLLED) -> ImportedAdvocate:
    entry = ImportedAdvocate(advocate=profile(advocate_id))
    if enrolled_at is not None:
        entry.enrolled_at.CopyFrom(to_timestamp(enrolled_at))
    return entry


def historical(key: str = "h1", shared_at: datetime | None = NOW - 30 * DAY, **fields: Any) -> ImportedShare:
    base: dict[str, Any] = {"idempotency_key": key, "advocate_id": "aino", "network": Network.NETWORK_LINKEDIN}
    if "own_post_url" not in fields:
        base["content_id"] = "c1"
    entry = ImportedShare(**{**base, **fields})
    if shared_at is not None:
        entry.shared_at.CopyFrom(to_timestamp(shared_at))
    return entry


def importer(*advocates: Advocate, content: Content | None = None) -> tuple[ImportShares, Shares, Notified]:
    held = Advocates(*(advocates or (migrated(),)))
    record, shares, notified = record_use_case(
        content or Content(item(published_at=to_timestamp(PUBLISHED))), advocates=held
    )
    return ImportShares(record, held, shares, clock=lambda: NOW), shares, notified


async def test_advocates_are_enrolled_since_the_past_time_and_a_repeat_changes_nothing():
    store = MemoryAdvocates()
    use = ImportAdvocates(use_cases(store), clock=lambda: NOW)
    [(advocate, created)] = await use([imported_advocate()])
    assert created and advocate.enrolled
    assert [from_timestamp(p.enrolled_at) for p in advocate.enrolments] == [ENROLLED]
    event = AdvocateChanged.FromString(store.events[0].value)
    assert event.imported and from_timestamp(event.enrolments[0].enrolled_at) == ENROLLED
    [(again, created)] = await use([imported_advocate()])
    assert not created and again.version == advocate.version and len(store.events) == 1


async def test_an_advocate_with_another_history_is_refused_before_any_of_the_batch_is_written():
    store = MemoryAdvocates()
    store.versions["ben"] = migrated("ben", enrolled_at=NOW - 10 * DAY)
    use = ImportAdvocates(use_cases(store), clock=lambda: NOW)
    with pytest.raises(FailedPrecondition, match=r"advocates\[1\]: .*has an enrolment history"):
        await use([imported_advocate("aino"), imported_advocate("ben")])
    assert "aino" not in store.versions and not store.events


@pytest.mark.parametrize(
    ("entries", "match"),
    [
        ([imported_advocate(enrolled_at=NOW + DAY)], r"advocates\[0\]\.enrolled_at: lies in the future"),
        ([imported_advocate(enrolled_at=datetime(1999, 12, 31, tzinfo=UTC))], r"advocates\[0\]\.enrolled_at: before"),
        ([imported_advocate(enrolled_at=None)], r"advocates\[0\]\.enrolled_at: required"),
        ([imported_advocate(), imported_advocate()], r"advocates\[1\]\.advocate\.profile\.advocate_id: .*twice"),
        ([imported_advocate("")], r"advocates\[0\]\.advocate\.profile\.advocate_id"),
        ([], "at least one"),
        ([imported_advocate(f"a{i}") for i in range(MAX_BATCH + 1)], f"at most {MAX_BATCH}"),
    ],
)
async def test_invalid_advocate_imports_name_the_entry(entries, match):
    store = MemoryAdvocates()
    with pytest.raises(InvalidArgument, match=match):
        await ImportAdvocates(use_cases(store), clock=lambda: NOW)(entries)
    assert not store.events


async def test_shares_are_recorded_at_their_past_time_as_imported_and_a_repeat_once():
    use, shares, notified = importer()
    at = NOW - 30 * DAY
    [(share, created), (post, post_created)] = await use(
        [historical("h1", at), historical("h2", at + DAY, own_post_url="https://blog.example.org/talk")]
    )
    assert created and post_created and from_timestamp(share.shared_at) == at
    event = ShareMade.FromString(shares.stored[share.share_id][1][0]["value"])
    assert event.imported and from_timestamp(event.occurred_at) == at
    assert from_timestamp(event.content_published_at) == PUBLISHED and event.campaign_id == "q4"
    assert post.own_post and ShareMade.FromString(shares.stored[post.share_id][1][0]["value"]).imported
    assert len(notified) == 2
    [(again, created_again)] = await use([historical("h1", at)])
    assert again.share_id == share.share_id and not created_again and len(shares.stored) == 2


async def test_an_item_that_expired_since_can_be_shared_in_the_past():
    expired = item(
        status=ContentStatus.CONTENT_STATUS_EXPIRED,
        published_at=to_timestamp(PUBLISHED),
        expires_at=to_timestamp(NOW - 20 * DAY),
    )
    use, _, _ = importer(content=Content(expired))
    [(_, created)] = await use([historical(shared_at=NOW - 25 * DAY)])
    assert created
    with pytest.raises(FailedPrecondition, match=r"shares\[0\]: the item has expired"):
        await use([historical("h2", shared_at=NOW - 19 * DAY)])


@pytest.mark.parametrize(
    ("entry", "error", "match"),
    [
        (historical(shared_at=NOW - 100 * DAY), FailedPrecondition, r"shares\[1\]\.advocate_id: .*not enrolled at"),
        (historical(shared_at=NOW - 61 * DAY), FailedPrecondition, r"shares\[1\]\.content_id: .*published at .*after"),
        (historical(content_id="nope"), NotFound, r"shares\[1\]: content 'nope' not found"),
        (historical(advocate_id="ben"), NotFound, r"shares\[1\]: advocate 'ben' not found"),
        (
            historical(network=Network.NETWORK_X),
            FailedPrecondition,
            r"shares\[1\]\.network: NETWORK_X is not connected",
        ),
        (historical(shared_at=NOW + DAY), InvalidArgument, r"shares\[1\]\.shared_at: lies in the future"),
        (historical(shared_at=None), InvalidArgument, r"shares\[1\]\.shared_at: required"),
        (historical(key=""), InvalidArgument, r"shares\[1\]\.idempotency_key"),
        (historical(own_post_url="ftp://x"), InvalidArgument, r"shares\[1\]\.own_post_url: .*absolute http"),
        (historical("h0"), InvalidArgument, r"shares\[1\]\.idempotency_key: .*shares\[0\]"),
    ],
)
async def test_a_bad_entry_is_named_and_nothing_of_the_batch_is_recorded(entry, error, match):
    use, shares, notified = importer()
    with pytest.raises(error, match=match):
        await use([historical("h0"), entry])
    assert not shares.stored and not notified


async def test_an_advocate_who_left_is_importable_while_enrolled_only():
    left = migrated(enrolled_at=NOW - 90 * DAY, left_at=NOW - 10 * DAY)
    use, _, _ = importer(left)
    [(_, created)] = await use([historical(shared_at=NOW - 30 * DAY)])
    assert created
    with pytest.raises(FailedPrecondition, match="not enrolled at shared_at"):
        await use([historical("h2", shared_at=NOW - 5 * DAY)])


async def test_a_batch_is_capped():
    use, shares, _ = importer()
    with pytest.raises(InvalidArgument, match=f"shares: at most {MAX_BATCH} entries"):
        await use([historical(f"h{i}") for i in range(MAX_BATCH + 1)])
    assert not shares.stored
