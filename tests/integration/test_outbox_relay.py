"""The outbox relay on the real broker and FerretDB: nothing written is lost, even when
Kafka is down at the moment of the write."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer
from pymongo import AsyncMongoClient

from infra import stack as local_stack
from services.common.config import ServiceSettings
from services.common.kafka import kafka_producer
from services.common.outbox import OutboxEvent, OutboxRelay, ensure_outbox_index


async def consume_event_ids(bootstrap: str, topic: str, expected: int, within: float) -> list[str]:
    """Reads the topic from the beginning until `expected` distinct keys arrived or time is up."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    seen: list[str] = []
    try:
        deadline = asyncio.get_running_loop().time() + within
        while len(set(seen)) < expected and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                seen.extend(r.value.decode() for r in records)
    finally:
        await consumer.stop()
    return seen


def outbox_doc(topic: str) -> tuple[dict, str]:
    event_id = uuid.uuid4().hex
    ev = OutboxEvent(event_id=event_id, topic=topic, key="k", value=event_id.encode())
    return {"_id": uuid.uuid4().hex, "outbox": [ev.to_document()]}, event_id


async def test_relay_sends_every_event_once_and_empties_the_outbox(isolated):
    settings = ServiceSettings(**{"kafka_bootstrap": isolated.stack.kafka_bootstrap})
    topic = f"{isolated.prefix}share-made"
    mongo = AsyncMongoClient(isolated.stack.mongo_url)
    collection = mongo[isolated.database]["things"]
    await ensure_outbox_index(collection)
    docs = [outbox_doc(topic) for _ in range(50)]
    await collection.insert_many([d for d, _ in docs])

    relay = OutboxRelay(collection, lambda: kafka_producer(settings, "test"))
    task = asyncio.create_task(relay.run())
    try:
        seen = await consume_event_ids(isolated.stack.kafka_bootstrap, topic, expected=50, within=30)
    finally:
        relay.stop()
        await task
    assert sorted(set(seen)) == sorted(eid for _, eid in docs)
    assert await collection.count_documents({"outbox.0": {"$exists": True}}) == 0
    await mongo.close()


async def test_writes_while_kafka_is_down_arrive_after_it_returns(isolated):
    """Kafka is stopped before the writes; the relay keeps retrying; after Kafka starts again
    every event arrives, and de-duplicating on event id yields exactly the events written."""
    cfg = isolated.stack
    settings = ServiceSettings(**{"kafka_bootstrap": cfg.kafka_bootstrap})
    topic = f"{isolated.prefix}share-made"
    mongo = AsyncMongoClient(cfg.mongo_url)
    collection = mongo[isolated.database]["things"]
    await ensure_outbox_index(collection)

    local_stack.stop_kafka(cfg)
    try:
        relay = OutboxRelay(collection, lambda: kafka_producer(settings, "test"), idle_poll_seconds=0.2)
        task = asyncio.create_task(relay.run())
        docs = [outbox_doc(topic) for _ in range(20)]
        for doc, _ in docs:
            await collection.insert_one(doc)
            relay.notify()
        await asyncio.sleep(3)  # the relay is retrying against a dead broker meanwhile
        assert await collection.count_documents({"outbox.0": {"$exists": True}}) == 20
    finally:
        await asyncio.to_thread(local_stack.start_kafka, cfg)
    try:
        seen = await consume_event_ids(cfg.kafka_bootstrap, topic, expected=20, within=60)
    finally:
        relay.stop()
        await task
    assert sorted(set(seen)) == sorted(eid for _, eid in docs)
    assert await collection.count_documents({"outbox.0": {"$exists": True}}) == 0
    await mongo.close()


async def test_notified_documents_are_read_by_id_and_the_sweep_finds_the_rest(isolated):
    """The fast path reads exactly the documents it was told about; a document nobody announced
    (a crash between write and notify, another replica's write) waits for the periodic sweep."""
    settings = ServiceSettings(**{"kafka_bootstrap": isolated.stack.kafka_bootstrap})
    topic = f"{isolated.prefix}share-made"
    mongo = AsyncMongoClient(isolated.stack.mongo_url)
    collection = mongo[isolated.database]["things"]
    relay = OutboxRelay(collection, lambda: kafka_producer(settings, "test"), sweep_interval_seconds=3600)
    task = asyncio.create_task(relay.run())
    try:
        while relay.last_sweep_at is None:  # noqa: ASYNC110 - the start-up sweep runs on the empty collection
            await asyncio.sleep(0.05)
        announced, announced_id = outbox_doc(topic)
        silent, silent_id = outbox_doc(topic)
        await collection.insert_one(silent)
        await collection.insert_one(announced)
        relay.notify(announced["_id"])
        seen = await consume_event_ids(isolated.stack.kafka_bootstrap, topic, expected=1, within=30)
        assert set(seen) == {announced_id}
        # Kafka acknowledged before the relay removed the sent events: wait for that removal.
        for _ in range(100):
            if await collection.count_documents({"outbox.0": {"$exists": True}}) == 1:
                break
            await asyncio.sleep(0.1)
        assert await collection.count_documents({"outbox.0": {"$exists": True}}) == 1
        relay.notify()  # no id: sweep now
        seen = await consume_event_ids(isolated.stack.kafka_bootstrap, topic, expected=2, within=30)
        assert set(seen) == {announced_id, silent_id}
    finally:
        relay.stop()
        await task
        await mongo.close()


async def test_an_outbox_handed_over_by_the_writer_is_sent_and_removed_without_a_read(isolated):
    """The writer passes the outbox it inserted; the relay sends it and `$pullAll`s exactly those
    elements (stored datetimes keep milliseconds only: the handed copy must match them)."""
    settings = ServiceSettings(**{"kafka_bootstrap": isolated.stack.kafka_bootstrap})
    topic = f"{isolated.prefix}share-made"
    mongo = AsyncMongoClient(isolated.stack.mongo_url, tz_aware=True)
    collection = mongo[isolated.database]["things"]
    relay = OutboxRelay(collection, lambda: kafka_producer(settings, "test"), sweep_interval_seconds=3600)
    task = asyncio.create_task(relay.run())
    try:
        while relay.last_sweep_at is None:  # noqa: ASYNC110 - the start-up sweep runs on the empty collection
            await asyncio.sleep(0.05)
        written = [outbox_doc(topic) for _ in range(30)]
        await collection.insert_many([doc for doc, _ in written])
        for doc, _ in written:
            relay.notify(doc["_id"], doc["outbox"])
        seen = await consume_event_ids(isolated.stack.kafka_bootstrap, topic, expected=30, within=30)
        assert set(seen) == {event_id for _, event_id in written}
        for _ in range(100):
            if await collection.count_documents({"outbox.0": {"$exists": True}}) == 0:
                break
            await asyncio.sleep(0.1)
        assert await collection.count_documents({"outbox.0": {"$exists": True}}) == 0
    finally:
        relay.stop()
        await task
        await mongo.close()
