"""The accounts view (GetBalance's and GetBadges' source) over the real broker: a compacted topic
followed into memory, fields merged by max, and no answer while it is not known to be current."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer

from services.common.topics import ensure_internal_topics
from services.rewards.adapters.accounts import ACCOUNTS, AccountsUnavailable, AccountView, records


async def send(bootstrap: str, topic: str, summaries: dict[str, dict[str, int]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in records(summaries):
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def eventually(condition, within: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "the view never showed it"
        await asyncio.sleep(0.05)


async def test_the_view_keeps_the_newest_values_whatever_order_records_arrive_in(isolated):
    bootstrap, topic = isolated.stack.kafka_bootstrap, isolated.prefix + ACCOUNTS
    await asyncio.to_thread(ensure_internal_topics, bootstrap, [topic], 4, 1, frozenset({topic}))
    new = {"earned": 50, "redeemed": 20, "shares": 3}
    await send(bootstrap, topic, {"aino": new, "bo": {"earned": 5, "shares": 1}})
    view = AccountView(bootstrap, topic, max_lag_seconds=2.0, wait_seconds=30.0)
    task = asyncio.create_task(view.follower.run())
    try:
        assert (await view.get("aino"))["earned"] == 50  # waits until the view is current
        assert await view.get("nobody") == {}
        # A late record of a previous partition owner (a rebalance) cannot undo the newer one.
        await send(bootstrap, topic, {"aino": {"earned": 40, "redeemed": 0, "shares": 2}, "bo": {"earned": 9}})

        async def bo_moved() -> bool:
            return (await view.get("bo"))["earned"] == 9

        await eventually(bo_moved)
        got = await view.get("aino")
        assert {k: got[k] for k in new} == new
    finally:
        view.follower.stop()
        await task


async def test_a_view_that_cannot_reach_kafka_answers_unavailable_after_its_wait():
    view = AccountView("127.0.0.1:1", "nowhere", max_lag_seconds=2.0, wait_seconds=0.5)
    task = asyncio.create_task(view.follower.run())
    try:
        with pytest.raises(AccountsUnavailable):
            await view.get("aino")
    finally:
        view.follower.stop()
        await task
