import pytest
from advocacy.share.v1.share_pb2 import Share, ShareMade
from faust.serializers import codecs
from google.protobuf.message import DecodeError

from services.common.stream import protobuf_codec_name
from services.common.topics import ALL_TOPICS, desired_topics, dlq_name


def test_protobuf_codec_round_trips_an_event():
    name = protobuf_codec_name(ShareMade)
    event = ShareMade(event_id="e1", share=Share(share_id="s1", audience_size=1240), personal_wording=True)
    data = codecs.dumps(name, event)
    assert data == event.SerializeToString()
    assert codecs.loads(name, data) == event


def test_protobuf_codec_rejects_garbage():
    with pytest.raises(DecodeError):
        codecs.loads(protobuf_codec_name(ShareMade), b"\xff\xff\xff not protobuf")


def test_every_topic_has_a_dead_letter_sibling_and_prefix_applies():
    topics = desired_topics("t1-")
    for spec in ALL_TOPICS:
        assert f"t1-{spec.name}" in topics
        assert dlq_name(f"t1-{spec.name}") in topics
        assert topics[f"t1-{spec.name}"]["num_partitions"] == spec.partitions
