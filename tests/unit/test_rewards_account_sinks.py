"""The award agent's summaries: the replica that made them durable shows them at once (it reads
its own writes) and sends them to the accounts topic for the other replicas."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any, cast

from services.rewards.adapters.accounts import AccountBook
from services.rewards.stream.agents import AgentSinks


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def send(self, topic: str, key: bytes, value: bytes, *_: Any) -> asyncio.Future[None]:
        self.sent.append((topic, key, value))
        acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        acked.set_result(None)
        return acked


def test_summaries_show_in_this_replica_before_the_topic_brings_them_back() -> None:
    producer, book = _Producer(), AccountBook()
    sinks = AgentSinks(
        cast(Any, SimpleNamespace(producer=producer)),
        "p-rewards-accounts",
        lambda: cast(Any, SimpleNamespace(accounts=book)),
    )
    book.apply("ada", {"earned": 50, "shares": 3})  # what the topic had brought so far
    asyncio.run(sinks.publish_summaries({"ada": {"earned": 60, "shares": 4}, "bob": {"earned": 10, "shares": 1}}))
    assert book.get("ada")["earned"] == 60 and book.get("ada")["shares"] == 4
    assert book.get("bob")["earned"] == 10
    assert [(t, k) for t, k, _ in producer.sent] == [("p-rewards-accounts", b"ada"), ("p-rewards-accounts", b"bob")]
    assert json.loads(producer.sent[0][2]) == {"a": "ada", "earned": 60, "shares": 4}


def test_an_older_summary_never_lowers_what_the_replica_shows() -> None:
    producer, book = _Producer(), AccountBook()
    sinks = AgentSinks(
        cast(Any, SimpleNamespace(producer=producer)), "t", lambda: cast(Any, SimpleNamespace(accounts=book))
    )
    book.apply("ada", {"earned": 80, "shares": 5})  # a newer owner's record, already followed
    asyncio.run(sinks.publish_summaries({"ada": {"earned": 60, "shares": 4}}))
    assert book.get("ada")["earned"] == 80 and book.get("ada")["shares"] == 5
