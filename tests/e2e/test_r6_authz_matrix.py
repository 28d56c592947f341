"""R6: the authorization matrix. Every RPC of every service x (anonymous, advocate, another advocate,
admin, service) against the running platform, each call checked for its exact expected outcome.

The expectations below are written out independently of services/common/policy.py (the test would
be circular otherwise); a test fails if an RPC exists that this table does not mention.
"""

from __future__ import annotations

from collections import Counter

import grpc
import pytest
from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.content.v1 import content_pb2
from advocacy.share.v1 import share_pb2
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.auth import ADMIN, ADVOCATE, SERVICE, authorized_channel, mint_token
from services.platform.supervisor import Platform
from tests.e2e.conftest import connect
from tests.e2e.rpcs import Rpc, all_rpcs

pytestmark = pytest.mark.e2e

ADA, BOB = "r6-ada", "r6-bob"

# Who may call each RPC: a = admin, s = service, v = any advocate, v* = an advocate only as themself
# (the named request field must be the caller's own id).
EXPECTED: dict[str, tuple[str, str | None]] = {
    "ContentService/CreateContent": ("a", None),
    "ContentService/GetContent": ("a s v", None),
    "ContentService/SubmitForReview": ("a", None),
    "ContentService/Approve": ("a", None),
    "ContentService/Reject": ("a", None),
    "ContentService/Publish": ("a", None),
    "ContentService/EditContent": ("a", None),
    "ContentService/Archive": ("a", None),
    "ContentService/SuggestContent": ("a s v*", "advocate_id"),
    "ContentService/ListContent": ("a s", None),
    "ContentService/ListFeed": ("a s v*", "advocate_id"),
    "ContentService/CreateSource": ("a", None),
    "ContentService/ListSources": ("a", None),
    "ContentService/PauseSource": ("a", None),
    "ContentService/DeleteSource": ("a", None),
    # History import (a migration from a previous tool) writes the past: admins only.
    "ContentService/ImportContent": ("a", None),
    "TrainingService/CreateLesson": ("a", None),
    "TrainingService/EditLesson": ("a", None),
    "TrainingService/PublishLesson": ("a", None),
    "TrainingService/ArchiveLesson": ("a", None),
    "TrainingService/GetLesson": ("a", None),
    "TrainingService/ListLessons": ("a", None),
    "TrainingService/SetCampaignPrerequisites": ("a", None),
    "TrainingService/GetCampaignPrerequisites": ("a s v", None),
    "TrainingService/ListMyLessons": ("a s v*", "advocate_id"),
    "TrainingService/CompleteLesson": ("a s v*", "advocate_id"),
    "TrainingService/SubmitQuiz": ("a s v*", "advocate_id"),
    "ShareService/EnrollAdvocate": ("a s", None),
    "ShareService/GetAdvocate": ("a s v*", "advocate_id"),
    "ShareService/Leave": ("a s v*", "advocate_id"),
    "ShareService/UpdateProfile": ("a s v*", "profile.advocate_id"),
    "ShareService/ConnectNetwork": ("a s v*", "advocate_id"),
    "ShareService/DisconnectNetwork": ("a s v*", "advocate_id"),
    "ShareService/RecordShare": ("a s v*", "advocate_id"),
    "ShareService/RecordOwnPost": ("a s v*", "advocate_id"),
    "ShareService/ListSharesByAdvocate": ("a s v*", "advocate_id"),
    "ShareService/ListSharesByContent": ("a s", None),
    "ShareService/RecordEngagement": ("a s", None),
    "ShareService/ImportAdvocates": ("a", None),
    "ShareService/ImportShares": ("a", None),
    "RewardsService/GetBalance": ("a s v*", "advocate_id"),
    "RewardsService/ListLedger": ("a s v*", "advocate_id"),
    "RewardsService/GetLeaderboard": ("a s v", None),
    "RewardsService/GetBadges": ("a s v*", "advocate_id"),
    "RewardsService/ListCatalog": ("a s v", None),
    "RewardsService/Redeem": ("a s v*", "advocate_id"),
    "RewardsService/GetRuleSet": ("a s v", None),
    "RewardsService/PutRuleSet": ("a", None),
    "RewardsService/UpsertCampaign": ("a", None),
    "RewardsService/UpsertCatalogItem": ("a", None),
    "AnalyticsService/GetContentStats": ("a s", None),
    "AnalyticsService/GetStats": ("a s", None),
    "AnalyticsService/TopContent": ("a s", None),
    "AnalyticsService/GetProgramOverview": ("a s", None),
    "AnalyticsService/ListComments": ("a s v*", "requester_id"),
    "AnalyticsService/ExportStatsCsv": ("a s", None),
    "AnalyticsService/GetRateCard": ("a", None),
    "AnalyticsService/PutRateCard": ("a", None),
    "AnalyticsService/GetProgramHealth": ("a s", None),
    "AnalyticsService/ExportHealthCsv": ("a s", None),
    "AnalyticsService/GetTrainingStats": ("a s", None),
    "NotifyService/GetPreferences": ("a s v*", "advocate_id"),
    "NotifyService/UpdatePreferences": ("a s v*", "advocate_id"),
    "NotifyService/OptOut": ("a s v*", "advocate_id"),
    "NotifyService/GetCompanyDefaults": ("a", None),
    "NotifyService/PutCompanyDefaults": ("a", None),
}

CALLERS = ("anonymous", "advocate", "other advocate", "admin", "service")
REFUSED = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}
ALLOWED = "allowed"


def expected(spec: str, caller: str) -> grpc.StatusCode | str:
    roles = spec.split()
    if caller == "anonymous":
        return grpc.StatusCode.UNAUTHENTICATED
    ok = {
        "admin": "a" in roles,
        "service": "s" in roles,
        "advocate": "v" in roles or "v*" in roles,
        # Another advocate asks about ADA: fine only where advocates are not limited to themselves.
        "other advocate": "v" in roles,
    }[caller]
    return ALLOWED if ok else grpc.StatusCode.PERMISSION_DENIED


def _set(message: Message, path: str, value: str) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        message = getattr(message, part)
    setattr(message, leaf, value)


def request_for(rpc: Rpc, content_id: str) -> Message:
    """A plausible request about ADA (so allowed calls mostly succeed; any status but the two
    refusals counts as allowed)."""
    req = rpc.request()
    spec = EXPECTED[rpc.short]
    if spec[1]:
        _set(req, spec[1], ADA)
    fields = req.DESCRIPTOR.fields_by_name
    if "content_id" in fields:
        req.content_id = content_id  # type: ignore[attr-defined]
    if rpc.short in ("ShareService/RecordShare", "ShareService/RecordOwnPost"):
        req.network = Network.NETWORK_LINKEDIN  # type: ignore[attr-defined]
    if rpc.short == "ShareService/RecordOwnPost":
        req.url = "https://example.com/ada-own"  # type: ignore[attr-defined]
    if rpc.short == "ContentService/SuggestContent":
        req.item.title, req.item.url = "Idea", "https://example.com/idea"  # type: ignore[attr-defined]
    return req


@pytest.fixture(scope="module")
def content_id(platform: Platform) -> str:
    admin = connect(platform)
    try:
        for advocate_id in (ADA, BOB):
            admin.share.EnrollAdvocate(
                share_pb2.EnrollAdvocateRequest(
                    advocate=share_pb2.Advocate(
                        profile=AdvocateSnapshot(advocate_id=advocate_id, team="r6"),
                        networks=[share_pb2.NetworkConnection(network=Network.NETWORK_LINKEDIN, audience_size=10)],
                    )
                )
            )
        # ADA is the author: ListComments with requester ADA passes the analytics authorship check.
        item = admin.content.CreateContent(
            content_pb2.CreateContentRequest(
                item=content_pb2.ContentItem(title="R6", url="https://example.com/r6", author_id=ADA)
            )
        )
        for step in (admin.content.SubmitForReview, admin.content.Approve, admin.content.Publish):
            item = step(content_pb2.TransitionRequest(content_id=item.content_id, actor_id="r6"))
        return item.content_id
    finally:
        admin.close()


def test_the_table_covers_every_rpc():
    assert sorted(r.short for r in all_rpcs()) == sorted(EXPECTED)


def test_authorization_matrix(platform: Platform, content_id: str):
    channels = {
        "anonymous": {s: grpc.insecure_channel(platform.address(s)) for s in platform.ports},
        "advocate": {s: platform.channel(s, ADVOCATE, ADA) for s in platform.ports},
        "other advocate": {s: platform.channel(s, ADVOCATE, BOB) for s in platform.ports},
        "admin": {s: platform.channel(s, ADMIN, "r6-admin") for s in platform.ports},
        "service": {s: platform.channel(s, SERVICE, "r6-portal") for s in platform.ports},
    }
    rows: list[tuple[str, list[str]]] = []
    wrong: list[str] = []
    outcomes: Counter[str] = Counter()
    try:
        for rpc in all_rpcs():
            cells = []
            for caller in CALLERS:
                status = rpc.call(channels[caller][rpc.service], request_for(rpc, content_id))
                want = expected(EXPECTED[rpc.short][0], caller)
                good = status not in REFUSED | {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
                passed = good if want == ALLOWED else status == want
                outcomes["as expected" if passed else "WRONG"] += 1
                cells.append(status.name + ("" if passed else " (!)"))
                if not passed:
                    wrong.append(f"{rpc.short} as {caller}: got {status.name}, expected {want}")
            rows.append((rpc.short, cells))
    finally:
        for by_service in channels.values():
            for channel in by_service.values():
                channel.close()

    width = max(len(name) for name, _ in rows)
    print(f"\nR6 authorization matrix ({len(rows)} RPCs x {len(CALLERS)} callers = {sum(outcomes.values())} calls)")
    print(f"{'rpc':<{width}}  " + "  ".join(f"{c:<18}" for c in CALLERS))
    for name, cells in rows:
        print(f"{name:<{width}}  " + "  ".join(f"{c:<18}" for c in cells))
    print(f"R6 outcomes: {dict(outcomes)}")
    assert not wrong, "\n".join(wrong)


def test_bad_tokens_are_unauthenticated_and_health_stays_open(platform: Platform):
    rpc = next(r for r in all_rpcs() if r.short == "RewardsService/GetRuleSet")
    address = platform.address("rewards")
    tokens = {
        "expired": mint_token(platform.auth_key, "x", ADMIN, ttl_seconds=-3600),
        "wrong key": mint_token("w" * 40, "x", ADMIN),
        "garbage": "not-a-token",
    }
    for what, token in tokens.items():
        with authorized_channel(address, token) as channel:
            assert rpc.call(channel, rpc.request()) == grpc.StatusCode.UNAUTHENTICATED, what
    with grpc.insecure_channel(address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
