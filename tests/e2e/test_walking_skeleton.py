"""The thin slice through all four services: publish → share → points and reach, on the
real broker and FerretDB, through the gRPC APIs."""

from __future__ import annotations

import time
import urllib.request
import uuid

import grpc
import pytest
from advocacy.analytics.v1 import analytics_pb2
from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.content.v1 import content_pb2
from advocacy.rewards.v1 import rewards_pb2
from advocacy.share.v1 import share_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc


def publish_item(clients, **fields) -> content_pb2.ContentItem:
    item = clients.content.CreateContent(
        content_pb2.CreateContentRequest(
            item=content_pb2.ContentItem(
                title="We opened a new plant",
                url="https://example.com/news/plant",
                suggested_texts=[content_pb2.SuggestedText(network=Network.NETWORK_LINKEDIN, text="Proud of this!")],
                **fields,
            )
        )
    )
    for step in (clients.content.SubmitForReview, clients.content.Approve, clients.content.Publish):
        item = step(content_pb2.TransitionRequest(content_id=item.content_id, actor_id="comms-admin"))
    return item


def enroll(clients, audience: int = 1240, team: str = "sales") -> str:
    advocate_id = f"adv-{uuid.uuid4().hex[:8]}"
    clients.share.EnrollAdvocate(
        share_pb2.EnrollAdvocateRequest(
            advocate=share_pb2.Advocate(
                profile=AdvocateSnapshot(advocate_id=advocate_id, display_name="Aino Virtanen", team=team),
                networks=[share_pb2.NetworkConnection(network=Network.NETWORK_LINKEDIN, audience_size=audience)],
            )
        )
    )
    return advocate_id


def eventually(probe, timeout: float = 30.0):
    """Polls until `probe()` returns a truthy value: the pipeline is asynchronous by design."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_a_share_earns_points_and_adds_reach(clients):
    item = publish_item(clients)
    assert item.status == content_pb2.CONTENT_STATUS_PUBLISHED
    advocate_id = enroll(clients, audience=1240)

    reply = clients.share.RecordShare(
        share_pb2.RecordShareRequest(
            content_id=item.content_id,
            advocate_id=advocate_id,
            network=Network.NETWORK_LINKEDIN,
            message="Nine months from idea to a running plant. Amazing team.",
            idempotency_key="share-1",
        )
    )
    assert reply.created and reply.share.audience_size == 1240
    assert reply.share.tracked_url.endswith("/l/" + reply.share.tracked_code)

    # share 10 + first share of the item 5 + personal wording 5 + early sharer 5 (the early-sharer
    # bonus is ranked per item on its own path, so it may land a moment after the others).
    # GetBalance reads the account, then (with the ledger check) the ledger sink: an entry landing
    # between the two reads shows one ahead of the other for a moment, so wait until both settle.
    def settled():  # type: ignore[no-untyped-def]
        b = clients.rewards.GetBalance(rewards_pb2.GetBalanceRequest(advocate_id=advocate_id, with_ledger_check=True))
        return b if b.points == 25 and b.ledger_points == 25 else None

    balance = eventually(settled)
    assert balance.points == balance.ledger_points == 25
    stats = eventually(
        lambda: (
            (
                s := clients.analytics.GetContentStats(analytics_pb2.GetContentStatsRequest(content_id=item.content_id))
            ).shares
            and s
        )
    )
    assert (stats.shares, stats.distinct_sharers, stats.potential_reach) == (1, 1, 1240)

    ledger = clients.rewards.ListLedger(rewards_pb2.ListLedgerRequest(advocate_id=advocate_id))
    assert sorted(e.rule for e in ledger.entries) == ["early_sharer", "first_share", "personal_wording", "share"]


def test_a_retried_share_is_the_same_share_and_earns_nothing_more(clients):
    item = publish_item(clients)
    advocate_id = enroll(clients, audience=300)
    request = share_pb2.RecordShareRequest(
        content_id=item.content_id,
        advocate_id=advocate_id,
        network=Network.NETWORK_LINKEDIN,
        message="Proud of this!",
        idempotency_key="retry-me",
    )
    first = clients.share.RecordShare(request)
    second = clients.share.RecordShare(request)
    assert first.created and not second.created
    assert second.share.share_id == first.share.share_id

    eventually(lambda: clients.rewards.GetBalance(rewards_pb2.GetBalanceRequest(advocate_id=advocate_id)).points == 20)
    time.sleep(1.0)  # give a (wrong) second award the time to show up
    balance = clients.rewards.GetBalance(rewards_pb2.GetBalanceRequest(advocate_id=advocate_id))
    assert balance.points == 20  # share + first share + early sharer; a copied suggested text earns no wording bonus
    stats = clients.analytics.GetContentStats(analytics_pb2.GetContentStatsRequest(content_id=item.content_id))
    assert (stats.shares, stats.potential_reach) == (1, 300)


@pytest.mark.parametrize(
    ("request_fields", "code", "fragment"),
    [
        (
            {"content_id": "", "advocate_id": "a", "network": Network.NETWORK_LINKEDIN},
            grpc.StatusCode.INVALID_ARGUMENT,
            "content_id",
        ),
        ({"content_id": "c", "advocate_id": "a", "network": 0}, grpc.StatusCode.INVALID_ARGUMENT, "network"),
        (
            {"content_id": "c", "advocate_id": "nobody", "network": Network.NETWORK_X},
            grpc.StatusCode.NOT_FOUND,
            "advocate",
        ),
    ],
)
def test_bad_share_requests_get_precise_errors(clients, request_fields, code, fragment):
    with pytest.raises(grpc.RpcError) as err:
        clients.share.RecordShare(share_pb2.RecordShareRequest(**request_fields))
    assert err.value.code() == code
    assert fragment in err.value.details()


def test_sharing_an_unpublished_or_untargeted_item_is_refused(clients):
    advocate_id = enroll(clients, team="sales")
    draft = clients.content.CreateContent(
        content_pb2.CreateContentRequest(item=content_pb2.ContentItem(title="Draft", url="https://example.com/d"))
    )
    with pytest.raises(grpc.RpcError) as err:
        clients.share.RecordShare(
            share_pb2.RecordShareRequest(
                content_id=draft.content_id, advocate_id=advocate_id, network=Network.NETWORK_LINKEDIN
            )
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "not published" in err.value.details()

    hr_only = publish_item(clients, audience=content_pb2.Audience(teams=["hr"]))
    with pytest.raises(grpc.RpcError) as err:
        clients.share.RecordShare(
            share_pb2.RecordShareRequest(
                content_id=hr_only.content_id, advocate_id=advocate_id, network=Network.NETWORK_LINKEDIN
            )
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "audience" in err.value.details()


def test_publishing_a_draft_directly_is_an_illegal_transition(clients):
    draft = clients.content.CreateContent(
        content_pb2.CreateContentRequest(item=content_pb2.ContentItem(title="Draft", url="https://example.com/d"))
    )
    with pytest.raises(grpc.RpcError) as err:
        clients.content.Publish(content_pb2.TransitionRequest(content_id=draft.content_id))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "DRAFT" in err.value.details()


def test_every_service_has_health_reflection_and_metrics(platform):
    for name, ports in platform.ports.items():
        with grpc.insecure_channel(platform.address(name)) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            # Liveness ("") and readiness (the service's own name) both SERVING once started.
            for service in ("", f"advocacy.{name}.v1.{name.capitalize()}Service"):
                reply = health.Check(health_pb2.HealthCheckRequest(service=service))
                assert reply.status == health_pb2.HealthCheckResponse.SERVING, (name, service)
            reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            replies = list(reflection.ServerReflectionInfo(iter([request])))
            services = {s.name for s in replies[0].list_services_response.service}
            assert f"advocacy.{name}.v1.{name.capitalize()}Service" in services
            assert "grpc.health.v1.Health" in services

        def scrape(port: int = ports.metrics) -> str:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()

        assert "advocacy_grpc_server_handled_total" in scrape()
        if name in ("rewards", "analytics"):
            assert "advocacy_stream_ready 1.0" in scrape()
            # Lag per partition of share-made, reported from Faust's monitor every few seconds.
            assert eventually(
                lambda s=scrape: 'advocacy_consumer_lag_messages{partition="0",topic="share-made"}' in s()
            )
