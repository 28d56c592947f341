"""The share service's use cases with in-memory fakes of their repositories: record a share,
record engagement, count a click; and the local content view's rules."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.content.v1.content_pb2 import Audience, ContentItem, ContentPublished, ContentStatus, SuggestedText
from advocacy.share.v1.share_pb2 import (
    Advocate,
    EngagementKind,
    EngagementObserved,
    EngagementReport,
    EngagementSource,
    NetworkConnection,
    Share,
    ShareMade,
)
from grpc_interceptor.exceptions import FailedPrecondition, InvalidArgument, NotFound, Unavailable

from services.common.events import to_timestamp
from services.common.outbox import OutboxEvent
from services.share.adapters.content_view import ContentView
from services.share.app.engagement import CountClick, EngagementEvents, RecordEngagement
from services.share.app.ports import ContentUnavailable, EngagementRecord, TrackedShare
from services.share.app.shares import OwnPostRequest, RecordShare, ShareRequest

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


class Advocates:
    def __init__(self, *advocates: Advocate) -> None:
        self.by_id = {a.profile.advocate_id: a for a in advocates}

    async def get(self, advocate_id: str) -> Advocate | None:
        return self.by_id.get(advocate_id)


class Content:
    def __init__(self, *items: ContentItem, down: bool = False) -> None:
        self.by_id = {i.content_id: i for i in items}
        self.down = down

    async def get(self, content_id: str) -> ContentItem | None:
        if self.down:
            raise ContentUnavailable("content service: UNAVAILABLE")
        return self.by_id.get(content_id)


class Shares:
    """Shares and tracked shares in dicts; the insert refuses a taken id like the unique `_id`."""

    def __init__(self) -> None:
        self.stored: dict[str, tuple[Share, list[dict[str, Any]]]] = {}
        self.tracked: dict[str, TrackedShare] = {}

    async def get(self, share_id: str) -> Share | None:
        held = self.stored.get(share_id)
        return held[0] if held else None

    async def insert(
        self, share: Share, advocate: AdvocateSnapshot, sharer_fingerprint: str, events: list[OutboxEvent]
    ) -> tuple[Share, list[dict[str, Any]] | None]:
        await asyncio.sleep(0)  # concurrent callers interleave here, as on a real database
        if share.share_id in self.stored:
            return self.stored[share.share_id][0], None
        outbox = [e.to_document() for e in events]
        self.stored[share.share_id] = (share, outbox)
        self.tracked[share.share_id] = TrackedShare(
            share.share_id,
            share.content_id,
            share.advocate_id,
            share.network,
            share.campaign_id,
            share.target_url,
            sharer_fingerprint,
            advocate,
            share.own_post,
        )
        return share, outbox

    async def by_id(self, share_id: str) -> TrackedShare | None:
        return self.tracked.get(share_id)


class Notified(list[tuple[str, list[dict[str, Any]]]]):
    def __call__(self, doc_id: str, outbox: list[dict[str, Any]]) -> None:
        self.append((doc_id, outbox))


def advocate(advocate_id: str = "aino", enrolled: bool = True, team: str = "sales") -> Advocate:
    return Advocate(
        profile=AdvocateSnapshot(advocate_id=advocate_id, team=team),
        enrolled=enrolled,
        networks=[NetworkConnection(network=Network.NETWORK_LINKEDIN, audience_size=1240)],
        version=1,
    )


def item(content_id: str = "c1", **fields: Any) -> ContentItem:
    base: dict[str, Any] = {
        "content_id": content_id,
        "url": "https://example.com/news",
        "status": ContentStatus.CONTENT_STATUS_PUBLISHED,
        "campaign_id": "q4",
        "suggested_texts": [
            SuggestedText(network=Network.NETWORK_LINKEDIN, text="Proud of this!"),
            SuggestedText(network=Network.NETWORK_X, text="New plant #growth"),
        ],
        "version": 4,
    }
    return ContentItem(**{**base, **fields})


def request(message: str = "My own words", key: str = "k1", **fields: Any) -> ShareRequest:
    return ShareRequest(
        **{
            "content_id": "c1",
            "advocate_id": "aino",
            "network": Network.NETWORK_LINKEDIN,
            "message": message,
            "idempotency_key": key,
            **fields,
        }
    )


def use_case(
    content: Content | None = None, advocates: Advocates | None = None
) -> tuple[RecordShare, Shares, Notified]:
    shares, notified = Shares(), Notified()
    record = RecordShare(
        advocates or Advocates(advocate()),
        content or Content(item()),
        shares,
        lambda name: f"t.{name}",
        "https://go.example.com/",
        "salt",
        notified,
        clock=lambda: NOW,
    )
    return record, shares, notified


def made(outbox: list[dict[str, Any]]) -> ShareMade:
    return ShareMade.FromString(outbox[0]["value"])


async def test_a_share_is_stored_with_its_event_and_handed_to_the_relay():
    record, shares, notified = use_case()
    share, created = await record(request())
    assert list(shares.stored) == [share.share_id]
    assert created and share.tracked_url == f"https://go.example.com/l/{share.share_id}"
    assert share.audience_size == 1240 and share.campaign_id == "q4"
    assert [doc_id for doc_id, _ in notified] == [share.share_id]
    event = made(notified[0][1])
    assert event.share == share and event.personal_wording
    assert notified[0][1][0]["topic"] == "t.share-made" and notified[0][1][0]["key"] == "aino"


async def test_another_networks_suggested_text_is_not_personal_wording():
    record, _, notified = use_case()
    await record(request(message="new plant   #GROWTH", key="x-text"))
    await record(request(message="proud of this!", key="li-text"))
    assert [made(outbox).personal_wording for _, outbox in notified] == [False, False]


async def test_concurrent_retries_with_one_key_make_one_share():
    record, shares, notified = use_case()
    results = await asyncio.gather(*(record(request(message=f"try {i}")) for i in range(8)))
    assert len({s.share_id for s, _ in results}) == 1
    assert [created for _, created in results].count(True) == 1
    assert len(notified) == 1 and len(shares.stored) == 1


async def test_a_retry_after_the_item_expired_still_gets_its_share():
    content = Content(item())
    record, _, _ = use_case(content)
    first, _ = await record(request())
    content.by_id["c1"] = item(status=ContentStatus.CONTENT_STATUS_EXPIRED)
    again, created = await record(request())
    assert again == first and not created
    with pytest.raises(FailedPrecondition, match="not published"):
        await record(request(key="new-key"))


@pytest.mark.parametrize(
    ("content", "advocates", "error", "match"),
    [
        (Content(item()), Advocates(), NotFound, "advocate"),
        (Content(item()), Advocates(advocate(enrolled=False)), FailedPrecondition, "not enrolled"),
        (Content(), Advocates(advocate()), NotFound, "content"),
        (Content(down=True), Advocates(advocate()), Unavailable, "content service"),
        (Content(item(audience=Audience(teams=["hr"]))), Advocates(advocate()), FailedPrecondition, "audience"),
        (Content(item(url="javascript:alert(1)")), Advocates(advocate()), FailedPrecondition, "URL"),
        (
            Content(item(expires_at=to_timestamp(NOW - timedelta(seconds=1)))),
            Advocates(advocate()),
            FailedPrecondition,
            "expired",
        ),
    ],
)
async def test_refusals_name_the_reason_and_store_nothing(content, advocates, error, match):
    record, shares, notified = use_case(content, advocates)
    with pytest.raises(error, match=match):
        await record(request())
    assert not shares.stored and not notified


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"content_id": ""}, "content_id"),
        ({"network": Network.NETWORK_UNSPECIFIED}, "network"),
        ({"network": Network.NETWORK_X}, "NETWORK_X"),  # known, but not connected
        ({"message": "x" * 5001}, "message"),
        ({"idempotency_key": "k" * 129}, "idempotency_key"),
        ({"sharer_user_agent": "u" * 1001}, "sharer_user_agent"),
    ],
)
async def test_invalid_requests_name_the_field(fields, match):
    record, _, _ = use_case()
    with pytest.raises((InvalidArgument, FailedPrecondition), match=match):
        await record(request(**fields))


class Engagements:
    def __init__(self) -> None:
        self.stored: dict[str, str] = {}

    async def insert_many(self, records: list[EngagementRecord]) -> list[tuple[str, bool]]:
        out = []
        for r in records:
            if r.record_id in self.stored:
                out.append((self.stored[r.record_id], False))
            else:
                self.stored[r.record_id] = r.event_id
                out.append((r.event_id, True))
        return out


def report(share_id: str, source_event_id: str = "r1", **fields: Any) -> EngagementReport:
    return EngagementReport(
        share_id=share_id,
        kind=EngagementKind.ENGAGEMENT_KIND_REACTION,
        count=3,
        source=EngagementSource.ENGAGEMENT_SOURCE_NETWORK_WEBHOOK,
        source_event_id=source_event_id,
        **fields,
    )


async def test_engagement_is_idempotent_per_source_event_and_carries_the_share():
    record, shares, _ = use_case()
    share, _ = await record(request())
    notified = Notified()
    ingest = RecordEngagement(shares, Engagements(), EngagementEvents(lambda n: n), "salt", notified, clock=lambda: NOW)
    first = await ingest([report(share.share_id, actor_id="urn:li:person:1")])
    again = await ingest([report(share.share_id, actor_id="urn:li:person:1")])
    assert [r.created for r in first + again] == [True, False]
    assert again[0].event_id == first[0].event_id
    event = EngagementObserved.FromString(notified[0][1][0]["value"])
    assert (event.share_id, event.content_id, event.advocate.advocate_id, event.campaign_id) == (
        share.share_id,
        "c1",
        "aino",
        "q4",
    )
    assert event.actor_fingerprint and "person" not in event.actor_fingerprint
    with pytest.raises(NotFound, match=r"reports\[0\].share_id"):
        await ingest([report("nope", "r2")])
    with pytest.raises(InvalidArgument, match="reports"):
        await ingest([])


def own_post(url: str = "https://blog.example.org/my-talk", key: str = "o1", **fields: Any) -> OwnPostRequest:
    return OwnPostRequest(
        **{
            "advocate_id": "aino",
            "network": Network.NETWORK_LINKEDIN,
            "url": url,
            "message": "I spoke about our plant",
            "idempotency_key": key,
            **fields,
        }
    )


async def test_an_own_post_is_a_flagged_share_without_item_campaign_or_utm():
    # No content item exists at all: an own post never asks for one.
    record, shares, notified = use_case(Content(down=True))
    share, created = await record.own_post(own_post())
    assert created and share.own_post and list(shares.stored) == [share.share_id]
    assert share.content_id.startswith("own:") and len(share.content_id) == 28
    assert share.target_url == "https://blog.example.org/my-talk"  # as given: no company UTM parameters
    assert share.tracked_url == f"https://go.example.com/l/{share.share_id}" and share.tracked_code == share.share_id
    assert share.audience_size == 1240 and share.campaign_id == "" and share.message == "I spoke about our plant"
    event = made(notified[0][1])
    assert event.share == share and event.share.own_post
    assert not event.campaign_id and not event.personal_wording and not event.HasField("content_published_at")
    assert notified[0][1][0]["topic"] == "t.share-made" and notified[0][1][0]["key"] == "aino"


async def test_the_same_page_posted_again_is_the_same_synthetic_item_and_a_retry_the_same_post():
    record, shares, _ = use_case()
    first, _ = await record.own_post(own_post())
    again, created = await record.own_post(own_post(message="another try"))
    assert again == first and not created
    second, created = await record.own_post(own_post("HTTPS://Blog.Example.org:443/my-talk#top", key="o2"))
    assert created and second.share_id != first.share_id and second.content_id == first.content_id
    other, _ = await record.own_post(own_post("https://blog.example.org/other", key="o3"))
    assert other.content_id != first.content_id and len(shares.stored) == 3


@pytest.mark.parametrize(
    ("advocates", "fields", "error", "match"),
    [
        (Advocates(), {}, NotFound, "advocate"),
        (Advocates(advocate(enrolled=False)), {}, FailedPrecondition, "not enrolled"),
        (Advocates(advocate()), {"network": Network.NETWORK_X}, FailedPrecondition, "NETWORK_X"),
        (Advocates(advocate()), {"url": "javascript:alert(1)"}, InvalidArgument, "url"),
        (Advocates(advocate()), {"url": "/relative/path"}, InvalidArgument, "url"),
        (Advocates(advocate()), {"url": ""}, InvalidArgument, "url"),
        (Advocates(advocate()), {"network": Network.NETWORK_UNSPECIFIED}, InvalidArgument, "network"),
        (Advocates(advocate()), {"message": "x" * 5001}, InvalidArgument, "message"),
        (Advocates(advocate()), {"advocate_id": ""}, InvalidArgument, "advocate_id"),
    ],
)
async def test_own_post_refusals_name_the_reason_and_store_nothing(advocates, fields, error, match):
    record, shares, notified = use_case(advocates=advocates)
    with pytest.raises(error, match=match):
        await record.own_post(own_post(**fields))
    assert not shares.stored and not notified


async def test_engagement_and_clicks_on_an_own_post_are_flagged():
    record, shares, _ = use_case()
    share, _ = await record.own_post(own_post())
    notified = Notified()
    ingest = RecordEngagement(shares, Engagements(), EngagementEvents(lambda n: n), "salt", notified, clock=lambda: NOW)
    await ingest([report(share.share_id)])
    count = CountClick(shares, Windows(), EngagementEvents(lambda n: n), "salt", timedelta(minutes=30), notified)
    click = await count(share.share_id, "10.0.0.1", FIREFOX)
    assert click.outcome == "counted" and click.target_url == "https://blog.example.org/my-talk"
    events = [EngagementObserved.FromString(outbox[0]["value"]) for _, outbox in notified]
    assert [(e.own_post, e.content_id, e.campaign_id) for e in events] == [(True, share.content_id, "")] * 2
    # ... and a company item's engagement is not.
    item_share, _ = await record(request())
    await ingest([report(item_share.share_id, "r9")])
    assert not EngagementObserved.FromString(notified[-1][1][0]["value"]).own_post


class Windows:
    """Window claims in a dict: one per (share, fingerprint) until it is `window` old."""

    def __init__(self) -> None:
        self.opened: dict[str, list[datetime]] = {}

    async def open_window(
        self, share_id: str, actor_fingerprint: str, now: datetime, window: timedelta, event: OutboxEvent
    ) -> tuple[str, list[dict[str, Any]]] | None:
        key = f"{share_id}:{actor_fingerprint}"
        held = self.opened.setdefault(key, [])
        if held and held[-1] > now - window:
            return None
        held.append(now)
        return f"{key}:{len(held)}", [event.to_document(now)]


async def test_a_click_counts_once_per_window_and_bots_are_marked():
    record, shares, _ = use_case()
    share, _ = await record(request(sharer_client_ip="10.0.0.9", sharer_user_agent=FIREFOX))
    clock = [NOW]
    notified = Notified()
    count = CountClick(
        shares, Windows(), EngagementEvents(lambda n: n), "salt", timedelta(minutes=30), notified, lambda: clock[0]
    )
    assert (await count(share.share_id, "10.0.0.1", FIREFOX)).outcome == "counted"
    repeat = await count(share.share_id, "10.0.0.1", FIREFOX)
    assert repeat.outcome == "repeat" and repeat.target_url == share.target_url
    assert (await count(share.share_id, "10.0.0.2", "Googlebot/2.1")).outcome == "bot"
    assert (await count(share.share_id, "10.0.0.9", FIREFOX)).outcome == "self"
    clock[0] = NOW + timedelta(minutes=31)
    assert (await count(share.share_id, "10.0.0.1", FIREFOX)).outcome == "counted"
    assert (await count("unknown-code", "10.0.0.1", FIREFOX)).target_url is None
    assert (await count("../etc", "10.0.0.1", FIREFOX)).outcome == "unknown"
    events = [EngagementObserved.FromString(outbox[0]["value"]) for _, outbox in notified]
    assert [(e.is_bot, e.is_self) for e in events] == [(False, False), (True, False), (False, True), (False, False)]
    assert await count.target(share.share_id) == share.target_url


def published(version: int, kind: int = ContentPublished.Kind.KIND_PUBLISHED, **fields: Any) -> ContentPublished:
    return ContentPublished(kind=kind, item=item(version=version, **fields))  # type: ignore[arg-type]


async def test_the_content_view_answers_when_current_and_asks_the_service_otherwise():
    fallback = Content(item(title="from the service"))
    view = ContentView("unused:9092", "content-published", fallback, max_lag_seconds=2.0)
    view.apply(published(4, title="from the view"))
    assert (await view.get("c1")).title == "from the service"  # type: ignore[union-attr]  # never current
    view.follower.current_at = datetime.now(UTC).timestamp()  # as the consumer loop sets it at the topic's end
    assert (await view.get("c1")).title == "from the view"  # type: ignore[union-attr]
    view.apply(published(5, kind=ContentPublished.Kind.KIND_ARCHIVED))
    view.apply(published(4, title="a late older version"))  # ignored: older than what the view holds
    assert (await view.get("c1")).title == "from the service"  # type: ignore[union-attr]  # archived
    view.follower.current_at -= 3.0  # the broker has not confirmed the view's position for 3 s
    view.apply(published(6, title="republished"))
    assert (await view.get("c1")).title == "from the service"  # type: ignore[union-attr]
