"""Kafka producing for the API services (the Faust workers use Faust's own producer)."""

from __future__ import annotations

from collections.abc import Callable

from aiokafka import AIOKafkaProducer

from services.common.config import ServiceSettings


def kafka_producer(settings: ServiceSettings, client_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=client_id,
        # acks=all + idempotence: an acknowledged send is durable and a client retry never duplicates it.
        acks="all",
        enable_idempotence=True,
        # A lone send goes at once; under load batches form anyway while a partition's previous
        # request is in flight (an idempotent producer sends one at a time per partition).
        linger_ms=0,
        request_timeout_ms=15_000,
    )


async def start_producer(factory: Callable[[], AIOKafkaProducer]) -> AIOKafkaProducer:
    """A started producer from `factory` (for those that start one only when first needed). If
    starting fails it is stopped before the error goes on: its half-open connections are closed."""
    producer = factory()
    try:
        await producer.start()
    except BaseException:
        await producer.stop()
        raise
    return producer
