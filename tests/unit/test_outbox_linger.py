"""The outbox relay lingers for company only under load: a lone write woken from idle goes at once."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any, cast

from services.common.outbox import OutboxRelay

LINGER = 0.3


class _Scripted(OutboxRelay):
    """A relay whose passes send what the script says and note when each pass began."""

    def __init__(self, script: list[int], passes: int) -> None:
        super().__init__(
            cast(Any, SimpleNamespace(name="shares")), cast(Any, None), idle_poll_seconds=30, linger_seconds=LINGER
        )
        self.script = script  # what each pass sends; then no pass is expected
        self.passes: list[float] = []
        self.expected = passes  # the passes the test waits for
        self.reached = asyncio.Event()

    async def _relay_step(self) -> int | None:
        self.passes.append(time.monotonic())
        if len(self.passes) >= self.expected:
            self.reached.set()
        return self.script.pop(0) if self.script else 0

    async def _drain_and_close(self) -> None:
        return None


async def _woken(relay: _Scripted, after: float) -> float:
    await asyncio.sleep(after)
    woken = time.monotonic()
    relay.notify("doc")
    return woken


async def _until_done(relay: _Scripted, runner: asyncio.Task[None]) -> None:
    await asyncio.wait_for(relay.reached.wait(), 5)
    relay.stop()
    await asyncio.wait_for(runner, 5)


async def test_a_lone_write_after_idle_is_sent_at_once() -> None:
    relay = _Scripted([0, 0], passes=2)  # idle, then the woken pass finds the write
    runner = asyncio.create_task(relay.run())
    woken = await _woken(relay, 0.2)  # long after the last send (there was none)
    await _until_done(relay, runner)
    assert relay.passes[1] - woken < LINGER / 3


async def test_a_write_while_sends_keep_coming_waits_for_company() -> None:
    relay = _Scripted([4, 0, 0], passes=3)  # a send, then idle, then the woken pass
    runner = asyncio.create_task(relay.run())
    woken = await _woken(relay, 0.01)  # right after the send: under load
    await _until_done(relay, runner)
    assert relay.passes[2] - woken >= LINGER * 0.9
