"""Account summaries (what GetBalance and GetBadges read), kept in memory by every API replica.

The award agent sends each touched advocate's summary (`account.summary` of its state) to the
compacted `rewards-accounts` topic once the state is durable (again with the outbox after a crash,
app/processor.py), before the batch's offsets are committed. Every replica follows the whole
topic (`TopicFollower`: no group, read from the start; a compacted topic keeps the latest record
per advocate). Every field only grows,
so a late record of a previous partition owner can never undo a newer one: fields merge by max.
No database update is left on the award path."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence

from services.common.topic_view import TopicFollower
from services.rewards.app.ports import AccountsUnavailable
from services.rewards.domain.account import SUMMARY_FIELDS

ACCOUNTS = "rewards-accounts"
WAIT_STEP_SECONDS = 0.02


def account_record(advocate_id: str, summary: dict[str, int]) -> bytes:
    return json.dumps({"a": advocate_id, **summary}, separators=(",", ":")).encode()


class AccountBook:
    """The summaries themselves: a tuple of SUMMARY_FIELDS per advocate (a few dozen bytes each)."""

    def __init__(self) -> None:
        self._accounts: dict[str, tuple[int, ...]] = {}

    def apply(self, advocate_id: str, summary: dict[str, int]) -> None:
        new = tuple(int(summary.get(f, 0)) for f in SUMMARY_FIELDS)
        held = self._accounts.get(advocate_id)
        self._accounts[advocate_id] = new if held is None else tuple(map(max, held, new))

    def get(self, advocate_id: str) -> dict[str, int]:
        held = self._accounts.get(advocate_id)
        return dict(zip(SUMMARY_FIELDS, held, strict=True)) if held is not None else {}

    def __len__(self) -> int:
        return len(self._accounts)


class AccountView:
    """The book, kept from the topic; answers only while the follower is current."""

    def __init__(self, bootstrap: str, topic: str, max_lag_seconds: float, wait_seconds: float) -> None:
        self.book = AccountBook()
        self.follower = TopicFollower(bootstrap, topic, self._record, "rewards-account-view", max_lag_seconds)
        self._wait_seconds = wait_seconds

    def _record(self, value: bytes) -> None:
        try:
            doc = json.loads(value)
            advocate_id = doc.pop("a")
        except (ValueError, KeyError, TypeError, AttributeError):
            return  # not an account record: nothing to keep
        if isinstance(advocate_id, str):
            self.book.apply(advocate_id, doc)

    async def get(self, advocate_id: str) -> dict[str, int]:
        deadline = time.monotonic() + self._wait_seconds
        while not self.follower.current:
            if time.monotonic() >= deadline:
                raise AccountsUnavailable("the account view is catching up with Kafka; retry shortly")
            await asyncio.sleep(WAIT_STEP_SECONDS)
        return self.book.get(advocate_id)


def records(summaries: dict[str, dict[str, int]]) -> Sequence[tuple[bytes, bytes]]:
    """(key, value) per advocate, as the award agent sends them."""
    return [(a.encode(), account_record(a, s)) for a, s in summaries.items()]
