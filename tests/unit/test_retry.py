"""The one retry policy (services/common/retry.py): capped exponential backoff with jitter, only
for the errors a caller names, bounded or forever, stoppable at shutdown. Sleeps are replaced,
so nothing here waits for real."""

from __future__ import annotations

import asyncio
import time

import pytest
from structlog.testing import capture_logs

from services.common.retry import retrying, retrying_sync


class Flaky:
    """Fails with `error` the first `failures` calls, then answers "done"."""

    def __init__(self, failures: int, error: type[Exception] = ConnectionError) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"failure {self.calls}")
        return "done"


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def test_backoff_doubles_from_the_first_wait_and_is_capped():
    sleeps, flaky = Sleeps(), Flaky(6)
    policy = retrying(
        retry_on=ConnectionError, event="t", first_seconds=0.5, max_seconds=3.0, jitter_seconds=0, sleep=sleeps
    )
    assert await policy(flaky) == "done"
    assert sleeps.waits == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


async def test_jitter_adds_at_most_the_first_wait_and_never_passes_the_cap():
    sleeps = Sleeps()
    policy = retrying(retry_on=ConnectionError, event="t", first_seconds=0.5, max_seconds=3.0, sleep=sleeps)
    assert await policy(Flaky(200)) == "done"
    for n, wait in enumerate(sleeps.waits):
        base = min(0.5 * 2**n, 3.0)
        assert base <= wait <= min(base + 0.5, 3.0)
    assert len(set(sleeps.waits[:10])) > 1  # spread, not one fixed schedule


async def test_an_error_not_named_retryable_is_raised_at_once():
    sleeps, flaky = Sleeps(), Flaky(3, error=ValueError)
    policy = retrying(retry_on=(ConnectionError, TimeoutError), event="t", sleep=sleeps)
    with pytest.raises(ValueError, match="failure 1"):
        await policy(flaky)
    assert flaky.calls == 1 and sleeps.waits == []


async def test_a_predicate_decides_which_errors_are_retried():
    def transient(exc: BaseException) -> bool:
        return isinstance(exc, OSError) and "failure 1" in str(exc)

    flaky = Flaky(2, error=OSError)
    with pytest.raises(OSError, match="failure 2"):
        await retrying(retry_on=transient, event="t", sleep=Sleeps())(flaky)
    assert flaky.calls == 2


async def test_bounded_attempts_raise_the_last_error_itself():
    sleeps, flaky = Sleeps(), Flaky(10)
    policy = retrying(retry_on=ConnectionError, event="t", attempts=3, sleep=sleeps)
    with pytest.raises(ConnectionError, match="failure 3"):  # the error, not tenacity's RetryError
        await policy(flaky)
    assert flaky.calls == 3 and len(sleeps.waits) == 2


async def test_forever_keeps_going_until_success():
    sleeps, flaky = Sleeps(), Flaky(500)
    assert await retrying(retry_on=ConnectionError, event="t", max_seconds=10.0, sleep=sleeps)(flaky) == "done"
    assert flaky.calls == 501 and max(sleeps.waits) <= 10.0


async def test_a_deadline_gives_up_instead_of_waiting_past_it():
    sleeps, flaky = Sleeps(), Flaky(10)
    policy = retrying(
        retry_on=ConnectionError,
        event="t",
        first_seconds=0.4,
        jitter_seconds=0,
        deadline=time.monotonic() + 1.0,
        sleep=sleeps,
    )
    with pytest.raises(ConnectionError, match="failure 3"):
        await policy(flaky)
    assert sleeps.waits == [0.4, 0.8]  # the third wait (1.6 s) would end past the deadline


async def test_until_cuts_the_wait_short_and_returns_none():
    stopping = asyncio.Event()
    flaky = Flaky(10)
    policy = retrying(
        retry_on=ConnectionError, event="t", first_seconds=60.0, until=stopping, on_retry=lambda _: stopping.set()
    )
    started = time.monotonic()
    assert await policy(flaky) is None
    assert time.monotonic() - started < 5.0  # not the 60 s wait


async def test_until_already_set_stops_after_the_failed_attempt():
    stopping = asyncio.Event()
    stopping.set()
    flaky = Flaky(10)
    assert await retrying(retry_on=ConnectionError, event="t", until=stopping, sleep=Sleeps())(flaky) is None
    assert flaky.calls == 1


async def test_each_retry_is_logged_and_reported_then_success_is_quiet():
    seen: list[BaseException] = []
    policy = retrying(retry_on=ConnectionError, event="thing_retry", on_retry=seen.append, sleep=Sleeps(), topic="t1")
    with capture_logs() as logs:
        assert await policy(Flaky(2)) == "done"
    assert [str(e) for e in seen] == ["failure 1", "failure 2"]
    assert [(e["event"], e["log_level"], e["attempt"], e["topic"]) for e in logs] == [
        ("thing_retry", "warning", 1, "t1"),
        ("thing_retry", "warning", 2, "t1"),
    ]
    assert "failure 1" in logs[0]["error"] and logs[0]["delay_seconds"] >= 0.2


async def test_log_level_none_leaves_reporting_to_the_caller():
    with capture_logs() as logs:
        await retrying(retry_on=ConnectionError, event="t", log_level=None, sleep=Sleeps())(Flaky(2))
    assert logs == []


def test_the_blocking_flavour_has_the_same_policy():
    waits: list[float] = []
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise ConnectionError("down")
        return "up"

    policy = retrying_sync(retry_on=ConnectionError, event="t", first_seconds=0.5, jitter_seconds=0, sleep=waits.append)
    assert policy(flaky) == "up"
    assert waits == [0.5, 1.0, 2.0]
    calls.clear()
    with pytest.raises(ConnectionError):
        retrying_sync(retry_on=ConnectionError, event="t", attempts=2, sleep=waits.append)(flaky)


async def test_a_callable_returning_a_coroutine_is_awaited_too():
    flaky = Flaky(1)
    result = await retrying(retry_on=ConnectionError, event="t", sleep=Sleeps())(lambda: flaky())
    assert result == "done" and flaky.calls == 2
