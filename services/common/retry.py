"""The one retry policy, built on tenacity: exponential backoff with jitter, capped at a maximum,
bounded (attempts, a deadline) or forever, each retry logged as one structured event.

Which exceptions are worth retrying, and what else a retry does (a metric, a fresh client), is
the caller's decision: a bug retried forever only burns CPU, a transient error not retried fails
a request. `retrying` is for coroutines, `retrying_sync` for the few blocking callers (start-up
tools); both take the same policy.

    relay = retrying(retry_on=(KafkaError, OSError), event="relay_retry", until=stopped)
    sent = await relay(send_batch)  # None when `stopped` was set while retrying
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from services.common.logging import get_logger

log = get_logger(__name__)

T = TypeVar("T")

# The exception types to retry, or a predicate on the exception.
RetryOn = type[BaseException] | tuple[type[BaseException], ...] | Callable[[BaseException], bool]


def _retry_condition(retry_on: RetryOn) -> Any:
    if isinstance(retry_on, type | tuple):
        return retry_if_exception_type(retry_on)
    return retry_if_exception(retry_on)


def _stop_condition(attempts: int | None, deadline: float | None, until: asyncio.Event | None) -> Any:
    after_attempts = stop_after_attempt(attempts) if attempts is not None else None

    def stop(state: RetryCallState) -> bool:
        if after_attempts is not None and after_attempts(state):
            return True
        # No wait may end past the deadline (a monotonic time): give up now rather than later.
        if deadline is not None and time.monotonic() + state.upcoming_sleep > deadline:
            return True
        return until is not None and until.is_set()

    return stop


def _policy(
    retry_on: RetryOn,
    event: str,
    first_seconds: float,
    max_seconds: float,
    jitter_seconds: float | None,
    attempts: int | None,
    deadline: float | None,
    until: asyncio.Event | None,
    on_retry: Callable[[BaseException], None] | None,
    log_level: str | None,
    log_fields: dict[str, Any],
) -> dict[str, Any]:
    """The tenacity arguments shared by the async and blocking flavours."""

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        assert exc is not None  # only failures are retried
        if log_level is not None:
            getattr(log, log_level)(
                event,
                attempt=state.attempt_number,
                error=repr(exc)[:500],
                delay_seconds=round(state.upcoming_sleep, 3),
                **log_fields,
            )
        if on_retry is not None:
            on_retry(exc)

    def given_up(state: RetryCallState) -> Any:
        # Stopped by `until` (shutdown): no result and no error. Otherwise the last error stands.
        if until is not None and until.is_set():
            return None
        assert state.outcome is not None
        return state.outcome.result()

    return {
        "retry": _retry_condition(retry_on),
        # Jitter spreads replicas that failed together (a broker restart) over the first interval.
        "wait": wait_exponential_jitter(
            multiplier=first_seconds,
            max=max_seconds,
            jitter=first_seconds if jitter_seconds is None else jitter_seconds,
        ),
        "stop": _stop_condition(attempts, deadline, until),
        "before_sleep": before_sleep,
        "retry_error_callback": given_up,
    }


class AsyncRetryingAwaited(AsyncRetrying):
    """tenacity awaits `fn`'s result only when it recognises `fn` as a coroutine function; a lambda
    or a mock returning a coroutine would come back un-awaited. This awaits whatever `fn` returns."""

    async def __call__(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:  # type: ignore[override]
        async def call() -> T:
            return await fn(*args, **kwargs)

        result: T = await super().__call__(call)
        return result


def retrying(
    *,
    retry_on: RetryOn,
    event: str,
    first_seconds: float = 0.2,
    max_seconds: float = 5.0,
    jitter_seconds: float | None = None,
    attempts: int | None = None,
    deadline: float | None = None,
    until: asyncio.Event | None = None,
    on_retry: Callable[[BaseException], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    log_level: str | None = "warning",
    **log_fields: Any,
) -> AsyncRetryingAwaited:
    """An `AsyncRetrying`: `await retrying(...)(fn, *args)` calls `fn` until it returns or raises
    an error `retry_on` does not accept. Wait n (from 1) is `first_seconds * 2**(n-1)` plus up to
    `jitter_seconds` (default: `first_seconds`), at most `max_seconds`. Forever unless `attempts`
    (then the last error is raised), `deadline` (a `time.monotonic()` no wait may end after; the
    last error is raised) or `until` (its setting cuts a wait short and the call returns None;
    an attempt that must not start after it checks it first). Each retry logs `event` at
    `log_level` (None: the caller reports it) with `log_fields`, then calls `on_retry(error)`."""

    async def until_set(seconds: float) -> None:
        assert until is not None
        try:
            await asyncio.wait_for(until.wait(), timeout=seconds)
        except TimeoutError:
            pass

    chosen_sleep = sleep or (until_set if until is not None else asyncio.sleep)
    policy = _policy(
        retry_on,
        event,
        first_seconds,
        max_seconds,
        jitter_seconds,
        attempts,
        deadline,
        until,
        on_retry,
        log_level,
        log_fields,
    )
    return AsyncRetryingAwaited(sleep=chosen_sleep, **policy)


def retrying_sync(*, sleep: Callable[[float], None] = time.sleep, **options: Any) -> Retrying:
    """`retrying` for blocking code, with its options but `until`: `retrying_sync(...)(fn, *args)`."""
    if "until" in options:
        raise TypeError("retrying_sync() got an unexpected keyword argument 'until'")
    policy = retrying(**options)
    return Retrying(
        sleep=sleep,
        retry=policy.retry,
        wait=policy.wait,
        stop=policy.stop,
        before_sleep=policy.before_sleep,
        retry_error_callback=policy.retry_error_callback,
    )
