import asyncio

import pytest
from advocacy.share.v1.share_pb2 import Share, ShareMade
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch
from faust.serializers import codecs
from google.protobuf.message import DecodeError

from services.common.stream import protobuf_codec_name
from services.common.topics import ALL_TOPICS, DeadLetter, desired_topics, dlq_name, send_dead_letters


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


class BatchingProducer:
    """What `send_dead_letters` uses of aiokafka's producer, with aiokafka's own record batches:
    each DLQ has `dlq_partitions` partitions; sent batches are recorded, their acks done at once."""

    def __init__(self, dlq_partitions: int, batch_size: int) -> None:
        self.dlq_partitions = dlq_partitions
        self.batch_size = batch_size
        self.sent: list[tuple[str, int, list[tuple[bytes, bytes]]]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.dlq_partitions))

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(self.batch_size, 0)

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> asyncio.Future:
        records = DefaultRecordBatch(bytearray(batch._build()))
        self.sent.append((topic, partition, [(r.value, dict(r.headers)["dlq.origin"]) for r in records]))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def letter(topic: str, partition: int, offset: int) -> DeadLetter:
    return DeadLetter(topic, topic, partition, offset, b"k", b"poison %d" % offset, "undecodable_value", "bad")


def test_dead_letters_go_in_record_batches_to_the_dlq_partition_of_their_origin_in_order():
    letters = [letter("share-made", p, o) for o in range(40) for p in (0, 1, 2)] + [letter("content-published", 0, 7)]
    producer = BatchingProducer(dlq_partitions=2, batch_size=300)  # a few records per batch
    asyncio.run(send_dead_letters(letters, producer))  # type: ignore[arg-type]

    received: dict[tuple[str, int], list[bytes]] = {}
    for topic, partition, records in producer.sent:
        assert records, "no empty batch is sent"
        received.setdefault((topic, partition), []).extend(origin for _, origin in records)
    assert len(producer.sent) > 4  # full batches went out and new ones started
    # Origin partitions 0 and 2 share DLQ partition 0; each origin partition's letters keep their order.
    expected_p0 = [f"share-made/{p}/{o}".encode() for o in range(40) for p in (0, 2)]
    assert received[("share-made.dlq", 0)] == expected_p0
    assert received[("share-made.dlq", 1)] == [f"share-made/1/{o}".encode() for o in range(40)]
    assert received[("content-published.dlq", 0)] == [b"content-published/0/7"]
