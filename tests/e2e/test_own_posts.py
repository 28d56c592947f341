"""Own posts through the running platform (issue 23): an advocate records a post of their own, a
reader clicks its tracked link, and the events, the points of the own-post rule and the analytics
split of company items and own posts follow; a company share beside it keeps its own figures."""

from __future__ import annotations

import http.client
import time
import urllib.parse
import uuid

import grpc
import pytest
from advocacy.analytics.v1 import analytics_pb2 as pb
from advocacy.common.v1.common_pb2 import Network
from advocacy.rewards.v1 import rewards_pb2
from advocacy.share.v1 import share_pb2, share_pb2_grpc
from kafka import KafkaConsumer

from services.common.auth import ADVOCATE
from services.platform.supervisor import Platform
from tests.e2e.test_walking_skeleton import enroll, eventually, publish_item

pytestmark = pytest.mark.e2e

OWN_URL = "https://blog.example.org/aino/why-i-joined?ref=own"
OWN_POST_POINTS = 7  # apart from a share's 10: an own post booked as a share would show
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def click(tracked_url: str) -> tuple[int, str]:
    """A reader's click (the redirect not followed): status and Location."""
    url = urllib.parse.urlsplit(tracked_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.request("GET", url.path, headers={"User-Agent": BROWSER})
        response = conn.getresponse()
        return response.status, response.getheader("Location") or ""
    finally:
        conn.close()


def events_of(platform: Platform, topic: str, share_ids: set[str], want: int, timeout: float = 60.0) -> list:
    """The events of `topic` about these shares (share-made: ShareMade, else EngagementObserved)."""
    message = share_pb2.ShareMade if topic == "share-made" else share_pb2.EngagementObserved
    consumer = KafkaConsumer(
        platform.env["ADVOCACY_TOPIC_PREFIX"] + topic,
        bootstrap_servers=platform.env["ADVOCACY_KAFKA_BOOTSTRAP"],
        auto_offset_reset="earliest",
        consumer_timeout_ms=2000,
    )
    found: list = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < want and time.monotonic() < deadline:
            for record in consumer:
                event = message.FromString(record.value)
                share_id = event.share.share_id if topic == "share-made" else event.share_id
                if share_id in share_ids and event.event_id not in {e.event_id for e in found}:
                    found.append(event)
    finally:
        consumer.close()
    return found


@pytest.fixture(scope="module")
def own_post_points(clients):
    """The rule set in force with own_post_points set for this module, restored afterwards."""
    before = clients.rewards.GetRuleSet(rewards_pb2.GetRuleSetRequest())
    changed = rewards_pb2.RuleSet()
    changed.CopyFrom(before)
    changed.own_post_points = OWN_POST_POINTS
    assert clients.rewards.PutRuleSet(rewards_pb2.PutRuleSetRequest(rules=changed)).own_post_points == OWN_POST_POINTS
    time.sleep(6)  # the award agent re-reads the rules every ADVOCACY_RULES_REFRESH_SECONDS (5 s)
    yield OWN_POST_POINTS
    clients.rewards.PutRuleSet(rewards_pb2.PutRuleSetRequest(rules=before))


def test_an_own_post_is_tracked_rewarded_and_shown_beside_company_items(platform, clients, own_post_points):
    item = publish_item(clients)
    advocate_id = enroll(clients, audience=1240)
    shared = clients.share.RecordShare(
        share_pb2.RecordShareRequest(
            content_id=item.content_id, advocate_id=advocate_id, network=Network.NETWORK_LINKEDIN, message="Proud!"
        )
    ).share
    reply = clients.share.RecordOwnPost(
        share_pb2.RecordOwnPostRequest(
            advocate_id=advocate_id,
            network=Network.NETWORK_LINKEDIN,
            url=OWN_URL,
            message="Why I joined: a thread",
            idempotency_key="own-1",
            sharer_client_ip="10.9.9.9",
            sharer_user_agent="the advocate's own browser",
        )
    )
    post = reply.share
    assert reply.created and post.own_post and post.content_id.startswith("own:") and not post.campaign_id
    assert post.audience_size == 1240 and post.target_url == OWN_URL
    again = clients.share.RecordOwnPost(
        share_pb2.RecordOwnPostRequest(
            advocate_id=advocate_id, network=Network.NETWORK_LINKEDIN, url=OWN_URL, idempotency_key="own-1"
        )
    )
    assert not again.created and again.share == post

    # The tracked link leads to the advocate's URL as given (no UTM), and the click counts.
    assert click(post.tracked_url) == (302, OWN_URL)

    made = events_of(platform, "share-made", {post.share_id, shared.share_id}, want=2)
    assert sorted((e.share.own_post, e.share.share_id) for e in made) == [
        (False, shared.share_id),
        (True, post.share_id),
    ]
    own_made = next(e for e in made if e.share.own_post)
    assert not own_made.personal_wording and not own_made.HasField("content_published_at")
    [clicked] = events_of(platform, "engagement-observed", {post.share_id}, want=1)
    assert clicked.own_post and clicked.content_id == post.content_id and not (clicked.is_bot or clicked.is_self)

    # Points: the own-post rule (7) and the first post of that page (5), the click (2).
    def own_entries() -> dict[str, int] | None:
        ledger = clients.rewards.ListLedger(rewards_pb2.ListLedgerRequest(advocate_id=advocate_id, page_size=100))
        got = {e.entry_id: e.points for e in ledger.entries}
        wanted = {f"{own_made.event_id}:own_post", f"{own_made.event_id}:first_share", f"{clicked.event_id}:click"}
        return got if wanted <= set(got) else None

    entries = eventually(own_entries, timeout=60)
    assert entries, "the own post's awards never reached the ledger"
    assert entries[f"{own_made.event_id}:own_post"] == own_post_points
    assert entries[f"{own_made.event_id}:first_share"] == 5 and entries[f"{clicked.event_id}:click"] == 2
    assert not any(
        k.startswith(own_made.event_id) and k.endswith(("early_sharer", "personal_wording")) for k in entries
    )

    # Analytics: the two origins side by side, adding up to the program.
    def split() -> pb.ProgramOverview | None:
        ov = clients.analytics.GetProgramOverview(pb.GetProgramOverviewRequest())
        return ov if (ov.own_posts.shares, ov.own_posts.unique_clicks, ov.company_items.shares) == (1, 1, 1) else None

    ov = eventually(split, timeout=60)
    assert ov, "the analytics split never showed the own post"
    assert (ov.own_posts.potential_reach, ov.company_items.potential_reach) == (1240, 1240)
    assert ov.totals.shares == 2 and ov.totals.potential_reach == 2480
    assert ov.own_post_reach_share == pytest.approx(0.5)
    own = clients.analytics.GetStats(
        pb.GetStatsRequest(dimension=pb.DIMENSION_ORIGIN, key="own", granularity=pb.GRANULARITY_ALL_TIME)
    )
    assert [(p.shares, p.potential_reach, p.unique_clicks) for p in own.points] == [(1, 1240, 1)]
    # The advocate's figures count both; the content figures know only the item.
    mine = clients.analytics.GetStats(
        pb.GetStatsRequest(dimension=pb.DIMENSION_ADVOCATE, key=advocate_id, granularity=pb.GRANULARITY_ALL_TIME)
    )
    assert mine.points[0].shares == 2
    top = clients.analytics.TopContent(pb.TopContentRequest(metric=pb.TOP_METRIC_POTENTIAL_REACH, limit=100))
    assert [e.content_id for e in top.entries] == [item.content_id]
    none = clients.analytics.GetContentStats(pb.GetContentStatsRequest(content_id=post.content_id))
    assert (none.shares, none.potential_reach) == (0, 0)

    # ListSharesByAdvocate shows the own post, flagged.
    listed = clients.share.ListSharesByAdvocate(share_pb2.ListSharesByAdvocateRequest(advocate_id=advocate_id))
    assert sorted(s.own_post for s in listed.shares) == [False, True]


def test_an_advocate_posts_only_as_themself_and_only_real_urls(platform, clients):
    advocate_id = enroll(clients)
    with platform.channel("share", ADVOCATE, advocate_id) as channel:
        stub = share_pb2_grpc.ShareServiceStub(channel)
        mine = stub.RecordOwnPost(
            share_pb2.RecordOwnPostRequest(
                advocate_id=advocate_id, network=Network.NETWORK_LINKEDIN, url=f"https://example.org/{uuid.uuid4()}"
            ),
            timeout=10,
        )
        assert mine.created
        for request, code in (
            (
                share_pb2.RecordOwnPostRequest(advocate_id="someone-else", network=1, url="https://e.org"),
                "PERMISSION_DENIED",
            ),
            (
                share_pb2.RecordOwnPostRequest(advocate_id=advocate_id, network=1, url="javascript:x"),
                "INVALID_ARGUMENT",
            ),
            (
                share_pb2.RecordOwnPostRequest(advocate_id=advocate_id, network=2, url="https://e.org"),
                "FAILED_PRECONDITION",
            ),
        ):
            with pytest.raises(grpc.RpcError) as err:
                stub.RecordOwnPost(request, timeout=10)
            assert err.value.code().name == code, request
