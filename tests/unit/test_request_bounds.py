"""The request guard every RPC passes through: out-of-bounds values get INVALID_ARGUMENT naming the field."""

from __future__ import annotations

import pytest
from advocacy.content.v1 import content_pb2
from advocacy.rewards.v1 import rewards_pb2
from advocacy.share.v1 import share_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_interceptor.exceptions import InvalidArgument

from services.common.validation import MAX_REPEATED, MAX_STRING, check_request


def refused(message) -> str:
    with pytest.raises(InvalidArgument) as caught:
        check_request(message)
    return caught.value.details


def test_plausible_requests_pass():
    check_request(
        content_pb2.CreateContentRequest(
            item=content_pb2.ContentItem(title="t", topics=["a"] * 50, publish_at=Timestamp(seconds=1_800_000_000))
        )
    )
    check_request(share_pb2.RecordEngagementRequest(reports=[share_pb2.EngagementReport(comment_text="x" * 10_000)]))


def test_each_bound_names_the_field():
    assert refused(content_pb2.CreateContentRequest(item=content_pb2.ContentItem(title="x" * (MAX_STRING + 1)))) == (
        f"item.title: at most {MAX_STRING} characters"
    )
    assert refused(content_pb2.ContentItem(topics=["a"] * (MAX_REPEATED + 1))).startswith("topics: at most")
    late = content_pb2.ContentItem(publish_at=Timestamp(seconds=-(2**62)))
    assert refused(late).startswith("publish_at: not a valid timestamp")
    nanos = share_pb2.RecordEngagementRequest(
        reports=[share_pb2.EngagementReport(), share_pb2.EngagementReport(observed_at=Timestamp(nanos=-1))]
    )
    assert refused(nanos).startswith("reports[1].observed_at: not a valid timestamp")
    assert refused(rewards_pb2.Campaign(multiplier=float("nan"))) == "multiplier: must be a finite number"
    assert refused(share_pb2.RecordShareRequest(network=99)) == "network: unknown Network value 99"


def test_map_keys_mongodb_cannot_store_are_refused():
    rules = rewards_pb2.PutRuleSetRequest()
    rules.rules.share_points_by_network["a.b"] = 1
    assert refused(rules).startswith("rules.share_points_by_network: key 'a.b'")
    rules.rules.share_points_by_network.clear()
    rules.rules.share_points_by_network["$where"] = 1
    assert "without '.', '$'" in refused(rules)
