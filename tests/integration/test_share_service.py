"""The share service as a process on the real broker and FerretDB, with the real content service
beside it: idempotent shares under concurrent retries, audience and expiry rules, tracked-link
clicks through the HTTP redirect, engagement ingest, advocate history, and no share lost while
Kafka is down."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import aiohttp
import grpc
import pytest
from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.content.v1 import content_pb2, content_pb2_grpc, training_pb2, training_pb2_grpc
from advocacy.content.v1.content_pb2 import CampaignPrerequisitesChanged
from advocacy.share.v1 import share_pb2, share_pb2_grpc
from advocacy.share.v1.share_pb2 import (
    AdvocateChanged,
    EngagementKind,
    EngagementObserved,
    EngagementSource,
    ShareMade,
)
from aiokafka import AIOKafkaConsumer
from google.protobuf.message import Message

from infra import stack as local_stack
from services.common.events import to_timestamp
from services.platform.supervisor import Platform, ServicePorts
from tests.conftest import PORT_OFFSET, ROOT, Isolated, make_isolated
from tests.integration.content_harness import eventually

HTTP_PORT = 19190 + PORT_OFFSET
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CLICK_WINDOW_SECONDS = 4
SHARER_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Version/17.0 Safari/605.1.15"


class Services:
    def __init__(self, platform: Platform, isolated: Isolated) -> None:
        self.platform = platform
        self.isolated = isolated
        self.content_channel = platform.aio_channel("content")
        self.share_channel = platform.aio_channel("share")
        self.content = content_pb2_grpc.ContentServiceStub(self.content_channel)
        self.share = share_pb2_grpc.ShareServiceStub(self.share_channel)
        self.base_url = f"http://127.0.0.1:{HTTP_PORT}"

    def topic(self, name: str) -> str:
        return self.isolated.prefix + name


def content_and_share(isolated: Isolated, env: dict[str, str], base_grpc: int, base_metrics: int) -> Platform:
    """The content and share services of `isolated`, started and ready."""
    platform = Platform(
        env={**isolated.env, **env},
        log_dir=ROOT / ".local" / "test" / "logs" / isolated.prefix,
        ports={
            "content": ServicePorts(base_grpc + PORT_OFFSET, base_metrics + PORT_OFFSET),
            "share": ServicePorts(base_grpc + 1 + PORT_OFFSET, base_metrics + 1 + PORT_OFFSET),
        },
    )
    try:
        for name in ("content", "share"):
            platform.start_service(name)
        for name in ("content", "share"):
            platform.wait_serving(name)
    except BaseException:
        platform.stop()
        raise
    return platform


@pytest.fixture(scope="module")
def platform(stack) -> Iterator[tuple[Platform, Isolated]]:
    isolated = make_isolated(stack)
    env = {
        "ADVOCACY_HTTP_PORT": str(HTTP_PORT),
        "ADVOCACY_PUBLIC_BASE_URL": f"http://127.0.0.1:{HTTP_PORT}",
        "ADVOCACY_SHUTDOWN_GRACE_SECONDS": "5",
        # 30 minutes in production; short here so a test can see a window close and the next open.
        "ADVOCACY_CLICK_WINDOW_SECONDS": str(CLICK_WINDOW_SECONDS),
    }
    platform = content_and_share(isolated, env, 25051, 20101)
    try:
        yield platform, isolated
    finally:
        codes = platform.stop()
    assert codes == {"content": 0, "share": 0}  # SIGTERM (HTTP listener included) is a clean exit


@pytest.fixture
async def svc(platform) -> Services:
    services = Services(*platform)
    yield services
    await services.content_channel.close()
    await services.share_channel.close()


async def publish_item(svc: Services, **fields) -> content_pb2.ContentItem:
    item = await svc.content.CreateContent(
        content_pb2.CreateContentRequest(
            item=content_pb2.ContentItem(
                title="We opened a new plant",
                url="https://example.com/news/plant?lang=en",
                **{
                    "suggested_texts": [
                        content_pb2.SuggestedText(network=Network.NETWORK_LINKEDIN, text="Proud of this!")
                    ],
                    **fields,
                },
            )
        )
    )
    for step in (svc.content.SubmitForReview, svc.content.Approve, svc.content.Publish):
        item = await step(content_pb2.TransitionRequest(content_id=item.content_id, actor_id="comms"))
    return item


async def enroll(svc: Services, team: str = "sales", audience: int = 1000) -> str:
    advocate_id = f"adv-{uuid.uuid4().hex[:8]}"
    await svc.share.EnrollAdvocate(
        share_pb2.EnrollAdvocateRequest(
            advocate=share_pb2.Advocate(
                profile=AdvocateSnapshot(advocate_id=advocate_id, display_name="Aino", team=team, leader=True),
                networks=[share_pb2.NetworkConnection(network=Network.NETWORK_LINKEDIN, audience_size=audience)],
            )
        )
    )
    return advocate_id


async def share_item(
    svc: Services, item, advocate_id: str, key: str | None = None, message: str = "My own words", **extra
) -> share_pb2.Share:
    reply = await svc.share.RecordShare(
        share_pb2.RecordShareRequest(
            content_id=item.content_id,
            advocate_id=advocate_id,
            network=Network.NETWORK_LINKEDIN,
            message=message,
            idempotency_key=key or uuid.uuid4().hex,
            **extra,
        )
    )
    return reply.share


async def read_events(
    bootstrap: str,
    topic: str,
    message_type: type[Message],
    predicate: Callable[[list], bool],
    within: float = 30.0,
    settle: float = 1.5,
) -> list:
    """Reads the topic from the beginning until `predicate(events)` holds, then `settle` seconds
    more (so a wrong extra event has time to show up), or until `within` is up."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    events: list = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        settled_at: float | None = None
        while loop.time() < deadline and (settled_at is None or loop.time() < settled_at):
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                events.extend(message_type.FromString(r.value) for r in records)
            if settled_at is None and predicate(events):
                settled_at = loop.time() + settle
    finally:
        await consumer.stop()
    return events


def clicks_of(events: list[EngagementObserved], share_id: str) -> list[EngagementObserved]:
    return [e for e in events if e.share_id == share_id and e.kind == EngagementKind.ENGAGEMENT_KIND_CLICK]


def counted(events: list[EngagementObserved]) -> list[EngagementObserved]:
    return [e for e in events if not (e.is_bot or e.is_self)]


async def test_concurrent_retries_make_one_share_and_one_event(svc):
    item = await publish_item(svc)
    advocate_id = await enroll(svc)
    request = share_pb2.RecordShareRequest(
        content_id=item.content_id,
        advocate_id=advocate_id,
        network=Network.NETWORK_LINKEDIN,
        message="Proud of this!",
        idempotency_key="one-key",
    )
    replies = await asyncio.gather(*(svc.share.RecordShare(request) for _ in range(12)))
    assert len({r.share.share_id for r in replies}) == 1
    assert sum(r.created for r in replies) == 1
    share_id = replies[0].share.share_id

    events = await read_events(
        svc.isolated.stack.kafka_bootstrap,
        svc.topic("share-made"),
        ShareMade,
        lambda evs: any(e.share.share_id == share_id for e in evs),
        settle=3.0,
    )
    made = [e for e in events if e.share.share_id == share_id]
    assert len(made) == 1
    assert made[0].advocate.team == "sales" and made[0].advocate.leader
    listed = await svc.share.ListSharesByAdvocate(share_pb2.ListSharesByAdvocateRequest(advocate_id=advocate_id))
    assert [s.share_id for s in listed.shares] == [share_id]


async def test_audience_expiry_and_connection_rules_are_enforced(svc):
    sales = await enroll(svc, team="sales")
    hr_only = await publish_item(svc, audience=content_pb2.Audience(teams=["hr"]))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await share_item(svc, hr_only, sales)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "audience" in err.value.details()

    x_share = share_pb2.RecordShareRequest(
        content_id=(await publish_item(svc)).content_id, advocate_id=sales, network=Network.NETWORK_X
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await svc.share.RecordShare(x_share)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "NETWORK_X" in err.value.details()

    expires = datetime.now(UTC) + timedelta(seconds=4)
    short_lived = await publish_item(svc, expires_at=to_timestamp(expires))
    assert (await share_item(svc, short_lived, sales)).share_id  # still valid
    await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.5)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await share_item(svc, short_lived, sales)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "expired" in err.value.details() or "not published" in err.value.details()


async def test_a_click_through_the_redirect_counts_once_per_window(svc):
    item = await publish_item(svc)
    advocate_id = await enroll(svc)
    share = await share_item(svc, item, advocate_id, sharer_client_ip="127.0.0.1", sharer_user_agent=SHARER_UA)
    assert share.tracked_url == f"{svc.base_url}/l/{share.tracked_code}"

    async with aiohttp.ClientSession() as http:
        first_click = asyncio.get_running_loop().time()
        for _ in range(3):  # the same reader clicks again within the window
            async with http.get(share.tracked_url, headers={"User-Agent": FIREFOX}, allow_redirects=False) as resp:
                assert resp.status == 302
                assert resp.headers["Location"] == share.target_url
        location = share.target_url
        assert location.startswith("https://example.com/news/plant?lang=en&")
        assert "utm_source=linkedin" in location and "utm_medium=advocacy" in location
        assert f"utm_content={share.share_id}" in location and f"utm_campaign={item.content_id}" in location
        # Another reader, five concurrent clicks: the window decides atomically, one counts.
        other = FIREFOX + " other-reader"
        statuses = await asyncio.gather(
            *(http.get(share.tracked_url, headers={"User-Agent": other}, allow_redirects=False) for _ in range(5))
        )
        assert [r.status for r in statuses] == [302] * 5
        for r in statuses:
            r.release()
        # Once the first reader's window has closed, their next click counts again.
        await asyncio.sleep(max(0.0, first_click + CLICK_WINDOW_SECONDS + 0.5 - asyncio.get_running_loop().time()))
        async with http.get(share.tracked_url, headers={"User-Agent": FIREFOX}, allow_redirects=False) as resp:
            assert resp.status == 302

    events = await read_events(
        svc.isolated.stack.kafka_bootstrap,
        svc.topic("engagement-observed"),
        EngagementObserved,
        lambda evs: len(clicks_of(evs, share.share_id)) >= 3,
        settle=3.0,
    )
    clicks = clicks_of(events, share.share_id)
    assert len(clicks) == 3 and len(counted(clicks)) == 3
    assert len({c.actor_fingerprint for c in clicks}) == 2
    first = clicks[0]
    assert (first.content_id, first.network, first.source) == (
        item.content_id,
        Network.NETWORK_LINKEDIN,
        EngagementSource.ENGAGEMENT_SOURCE_LINK_TRACKER,
    )
    assert first.advocate.advocate_id == advocate_id and first.advocate.team == "sales"


async def test_bot_and_self_clicks_count_nothing(svc):
    item = await publish_item(svc)
    advocate_id = await enroll(svc)
    share = await share_item(svc, item, advocate_id, sharer_client_ip="127.0.0.1", sharer_user_agent=SHARER_UA)
    async with aiohttp.ClientSession() as http:
        for ua in ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", SHARER_UA):
            async with http.get(share.tracked_url, headers={"User-Agent": ua}, allow_redirects=False) as resp:
                assert resp.status == 302 and resp.headers["Location"] == share.target_url

    events = await read_events(
        svc.isolated.stack.kafka_bootstrap,
        svc.topic("engagement-observed"),
        EngagementObserved,
        lambda evs: len(clicks_of(evs, share.share_id)) >= 2,
        settle=2.0,
    )
    clicks = clicks_of(events, share.share_id)
    assert sorted((c.is_bot, c.is_self) for c in clicks) == [(False, True), (True, False)]
    assert counted(clicks) == []


async def test_unknown_codes_get_404_and_never_a_redirect(svc):
    async with aiohttp.ClientSession() as http:
        for path in ("/l/doesnotexist", "/l/..%2F..%2Fevil", "/l/" + "a" * 100):
            async with http.get(svc.base_url + path, allow_redirects=False) as resp:
                assert resp.status == 404
                assert "Location" not in resp.headers


async def test_engagement_ingest_is_idempotent_and_carries_the_share(svc):
    item = await publish_item(svc)
    advocate_id = await enroll(svc)
    share = await share_item(svc, item, advocate_id)
    reports = [
        share_pb2.EngagementReport(
            share_id=share.share_id,
            kind=EngagementKind.ENGAGEMENT_KIND_COMMENT,
            count=1,
            source=EngagementSource.ENGAGEMENT_SOURCE_NETWORK_WEBHOOK,
            source_event_id=f"comment-{share.share_id}",
            comment_text="Are you hiring engineers for the plant?",
            actor_id="urn:li:person:123",
        ),
        share_pb2.EngagementReport(
            tracked_code=share.tracked_code,
            kind=EngagementKind.ENGAGEMENT_KIND_IMPRESSION,
            count=420,
            source=EngagementSource.ENGAGEMENT_SOURCE_IMPORT,
            source_event_id=f"impr-{share.share_id}",
        ),
    ]
    first = await svc.share.RecordEngagement(share_pb2.RecordEngagementRequest(reports=reports))
    again = await svc.share.RecordEngagement(share_pb2.RecordEngagementRequest(reports=reports))
    assert [r.created for r in first.results] == [True, True]
    assert [r.created for r in again.results] == [False, False]
    assert [r.event_id for r in again.results] == [r.event_id for r in first.results]
    assert {r.share_id for r in first.results} == {share.share_id}

    events = await read_events(
        svc.isolated.stack.kafka_bootstrap,
        svc.topic("engagement-observed"),
        EngagementObserved,
        lambda evs: len([e for e in evs if e.share_id == share.share_id]) >= 2,
        settle=2.0,
    )
    mine = sorted((e for e in events if e.share_id == share.share_id), key=lambda e: e.kind)
    assert [(e.kind, e.count) for e in mine] == [
        (EngagementKind.ENGAGEMENT_KIND_IMPRESSION, 420),
        (EngagementKind.ENGAGEMENT_KIND_COMMENT, 1),
    ]
    comment = mine[1]
    assert comment.comment_text == "Are you hiring engineers for the plant?"
    assert (comment.content_id, comment.network, comment.advocate.advocate_id) == (
        item.content_id,
        Network.NETWORK_LINKEDIN,
        advocate_id,
    )
    assert comment.actor_fingerprint and "123" not in comment.actor_fingerprint

    bad = share_pb2.EngagementReport(
        share_id=share.share_id, kind=EngagementKind.ENGAGEMENT_KIND_CLICK, count=1, source=2, source_event_id="x"
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await svc.share.RecordEngagement(share_pb2.RecordEngagementRequest(reports=[reports[0], bad]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "reports[1].kind" in err.value.details()
    missing = share_pb2.EngagementReport(
        share_id="nope", kind=EngagementKind.ENGAGEMENT_KIND_REACTION, count=1, source=2, source_event_id="y"
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await svc.share.RecordEngagement(share_pb2.RecordEngagementRequest(reports=[missing]))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and "reports[0].share_id" in err.value.details()


async def test_advocate_history_is_kept_and_published_on_advocate_changed(svc):
    advocate_id = await enroll(svc, team="sales")
    await svc.share.ConnectNetwork(
        share_pb2.ConnectNetworkRequest(
            advocate_id=advocate_id,
            connection=share_pb2.NetworkConnection(network=Network.NETWORK_LINKEDIN, audience_size=1500),
        )
    )
    await svc.share.UpdateProfile(
        share_pb2.UpdateProfileRequest(
            profile=AdvocateSnapshot(advocate_id=advocate_id, team="marketing", leader=False), interests=["ai"]
        )
    )
    left = await svc.share.Leave(share_pb2.LeaveRequest(advocate_id=advocate_id))
    assert not left.enrolled and left.enrolments[0].HasField("left_at")
    item = await publish_item(svc)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await share_item(svc, item, advocate_id)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "not enrolled" in err.value.details()
    await svc.share.Leave(share_pb2.LeaveRequest(advocate_id=advocate_id))  # a retry: no change, no event

    again = await svc.share.EnrollAdvocate(
        share_pb2.EnrollAdvocateRequest(
            advocate=share_pb2.Advocate(
                profile=AdvocateSnapshot(advocate_id=advocate_id, team="marketing"),
                networks=[share_pb2.NetworkConnection(network=Network.NETWORK_LINKEDIN, audience_size=1600)],
            )
        )
    )
    assert again.enrolled and len(again.enrolments) == 2 and again.version == 5
    fetched = await svc.share.GetAdvocate(share_pb2.GetAdvocateRequest(advocate_id=advocate_id))
    assert fetched == again
    assert (await share_item(svc, item, advocate_id)).audience_size == 1600

    events = await read_events(
        svc.isolated.stack.kafka_bootstrap,
        svc.topic("advocate-changed"),
        AdvocateChanged,
        lambda evs: any(e.advocate.profile.advocate_id == advocate_id and e.version == 5 for e in evs),
        settle=2.0,
    )
    mine = [e for e in events if e.advocate.profile.advocate_id == advocate_id]
    assert [e.version for e in mine] == [1, 2, 3, 4, 5]  # one per change, in order (key = advocate id)
    assert [e.advocate.profile.team for e in mine] == ["sales", "sales", "marketing", "marketing", "marketing"]
    assert [len(e.enrolments) for e in mine] == [1, 1, 1, 1, 2]
    assert mine[3].enrolments[0].HasField("left_at") and not mine[4].enrolments[1].HasField("left_at")


async def test_shares_are_listed_newest_first_page_by_page(svc):
    item = await publish_item(svc)
    advocate_id = await enroll(svc)
    ids = [(await share_item(svc, item, advocate_id)).share_id for _ in range(3)]
    page1 = await svc.share.ListSharesByContent(
        share_pb2.ListSharesByContentRequest(content_id=item.content_id, page_size=2)
    )
    page2 = await svc.share.ListSharesByContent(
        share_pb2.ListSharesByContentRequest(content_id=item.content_id, page_size=2, page_token=page1.next_page_token)
    )
    assert [s.share_id for s in [*page1.shares, *page2.shares]] == ids[::-1]
    assert page1.next_page_token and not page2.next_page_token
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await svc.share.ListSharesByAdvocate(
            share_pb2.ListSharesByAdvocateRequest(advocate_id=advocate_id, page_token="garbage!")
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in err.value.details()


async def test_shares_accepted_while_kafka_is_down_all_reach_share_made(svc):
    """Kafka stops; shares are still accepted (the event waits in the share's document); Kafka
    starts again and every accepted share is on `share-made`."""
    item = await publish_item(svc)
    advocate_id = await enroll(svc)
    cfg = svc.isolated.stack
    local_stack.stop_kafka(cfg)
    try:
        accepted = [(await share_item(svc, item, advocate_id)).share_id for _ in range(10)]
        await asyncio.sleep(1.0)  # the relay is retrying against a dead broker meanwhile
    finally:
        await asyncio.to_thread(local_stack.start_kafka, cfg)
    events = await read_events(
        cfg.kafka_bootstrap,
        svc.topic("share-made"),
        ShareMade,
        lambda evs: set(accepted) <= {e.share.share_id for e in evs},
        within=90.0,
    )
    assert set(accepted) <= {e.share.share_id for e in events}
    # At-least-once may repeat an event, but with the same event id: one distinct event per share.
    mine = {e.event_id: e.share.share_id for e in events if e.share.share_id in accepted}
    assert sorted(mine.values()) == sorted(accepted)


async def test_concurrent_advocate_changes_lose_nothing(svc):
    """Five profile updates at once: each is applied on top of the previous one (compare-and-set
    on the version), none is lost, and each emits exactly one `advocate-changed`."""
    advocate_id = await enroll(svc)
    teams = [f"team-{i}" for i in range(5)]
    await asyncio.gather(
        *(
            svc.share.UpdateProfile(
                share_pb2.UpdateProfileRequest(profile=AdvocateSnapshot(advocate_id=advocate_id, team=t))
            )
            for t in teams
        )
    )
    final = await svc.share.GetAdvocate(share_pb2.GetAdvocateRequest(advocate_id=advocate_id))
    assert final.version == 6 and final.profile.team in teams
    events = await read_events(
        svc.isolated.stack.kafka_bootstrap,
        svc.topic("advocate-changed"),
        AdvocateChanged,
        lambda evs: any(e.advocate.profile.advocate_id == advocate_id and e.version == 6 for e in evs),
        settle=2.0,
    )
    mine = [e for e in events if e.advocate.profile.advocate_id == advocate_id]
    assert sorted(e.version for e in mine) == [1, 2, 3, 4, 5, 6]
    # Sent in write order: the record compaction keeps (the last per key) is the latest state.
    assert mine[-1].version == 6 and mine[-1].advocate == final
    assert sorted(e.advocate.profile.team for e in mine[1:]) == teams


async def test_personal_wording_compares_with_every_suggested_text(svc):
    """A suggested text is a copy whatever network it was written for: the X text posted to
    LinkedIn is not personal wording; the advocate's own words are."""
    item = await publish_item(
        svc,
        suggested_texts=[
            content_pb2.SuggestedText(network=Network.NETWORK_LINKEDIN, text="Proud of this!"),
            content_pb2.SuggestedText(network=Network.NETWORK_X, text="New plant, 200 jobs #growth"),
        ],
    )
    advocate_id = await enroll(svc)
    copied = await share_item(svc, item, advocate_id, message="new plant, 200 JOBS  #growth")
    own = await share_item(svc, item, advocate_id, message="I toured it last week: impressive")
    events = await read_events(
        svc.isolated.stack.kafka_bootstrap,
        svc.topic("share-made"),
        ShareMade,
        lambda evs: {copied.share_id, own.share_id} <= {e.share.share_id for e in evs},
        settle=0.5,
    )
    wording = {e.share.share_id: e.personal_wording for e in events}
    assert wording[copied.share_id] is False
    assert wording[own.share_id] is True


async def share_outcome(svc: Services, item, advocate_id: str) -> str:
    """ "ok", or the refusal's code and message."""
    try:
        await share_item(svc, item, advocate_id)
    except grpc.aio.AioRpcError as exc:
        return f"{exc.code().name}: {exc.details()}"
    return "ok"


async def outcome_becomes(svc: Services, item, advocate_id: str, check: Callable[[str], bool]) -> str:
    """Shares until `check` holds for the outcome (the views follow Kafka), or 20 s are up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20.0
    while True:
        outcome = await share_outcome(svc, item, advocate_id)
        if check(outcome) or loop.time() > deadline:
            return outcome
        await asyncio.sleep(0.2)


async def published_lesson(training: training_pb2_grpc.TrainingServiceStub, title: str) -> str:
    created = await training.CreateLesson(
        training_pb2.CreateLessonRequest(lesson=training_pb2.Lesson(title=title, body="Read it."))
    )
    lesson = await training.PublishLesson(
        training_pb2.LessonTransitionRequest(lesson_id=created.lesson_id, expected_version=created.version)
    )
    return lesson.lesson_id


async def test_a_campaigns_required_lessons_gate_its_shares(svc):
    """Issue 23: an item whose campaign requires lessons is shared only by advocates who completed
    them; changes of the list (and an archived lesson leaving it) take effect; other campaigns
    are unaffected."""
    training = training_pb2_grpc.TrainingServiceStub(svc.content_channel)
    campaign = f"camp-{uuid.uuid4().hex[:8]}"
    guidelines = await published_lesson(training, "Social media guidelines")
    tone = await published_lesson(training, "Your own words")
    gated = await publish_item(svc, campaign_id=campaign)
    free = await publish_item(svc, campaign_id=f"free-{uuid.uuid4().hex[:8]}")
    advocate_id = await enroll(svc)
    await training.SetCampaignPrerequisites(
        training_pb2.SetCampaignPrerequisitesRequest(campaign_id=campaign, lesson_ids=[guidelines])
    )

    refused = await outcome_becomes(svc, gated, advocate_id, lambda o: o != "ok")
    assert refused.startswith("FAILED_PRECONDITION") and guidelines in refused and tone not in refused
    assert "a moment ago" in refused
    assert await share_outcome(svc, free, advocate_id) == "ok"

    async def completed():
        try:  # NOT_FOUND until the content service read the advocate from advocate-changed
            return await training.CompleteLesson(
                training_pb2.CompleteLessonRequest(lesson_id=guidelines, advocate_id=advocate_id)
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
            return None

    assert (await eventually(completed, within=20.0)).newly_completed
    # Right after completing: the refusal path waits for the completions view to catch up.
    assert await outcome_becomes(svc, gated, advocate_id, lambda o: o == "ok") == "ok"

    # The list changed later: a second lesson is required, named alone.
    await training.SetCampaignPrerequisites(
        training_pb2.SetCampaignPrerequisitesRequest(campaign_id=campaign, lesson_ids=[guidelines, tone])
    )
    refused = await outcome_becomes(svc, gated, advocate_id, lambda o: o != "ok")
    assert refused.startswith("FAILED_PRECONDITION") and tone in refused and guidelines not in refused
    # Archiving the lesson removes it from the campaign's list: sharing is allowed again.
    current = await training.GetLesson(training_pb2.GetLessonRequest(lesson_id=tone))
    await training.ArchiveLesson(training_pb2.LessonTransitionRequest(lesson_id=tone, expected_version=current.version))
    assert await outcome_becomes(svc, gated, advocate_id, lambda o: o == "ok") == "ok"
    shown = await svc.content.GetContent(content_pb2.GetContentRequest(content_id=gated.content_id))
    assert list(shown.required_lesson_ids) == [guidelines]

    # What the share service read: every version of the list, whole, keyed by the campaign.
    events = await read_events(
        svc.isolated.stack.kafka_bootstrap,
        svc.topic("campaign-prerequisites"),
        CampaignPrerequisitesChanged,
        lambda evs: sum(e.campaign_id == campaign for e in evs) >= 3,
        settle=0.5,
    )
    assert [(e.version, list(e.lesson_ids)) for e in events if e.campaign_id == campaign] == [
        (1, [guidelines]),
        (2, [guidelines, tone]),
        (3, [guidelines]),
    ]
