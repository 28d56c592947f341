"""The one rule for the ids a request names (advocates, items, campaigns, teams, sources,
idempotency keys), in every service: 1..MAX_ID characters.

128 is a token subject's limit (`services/common/auth.py`), so any id an advocate can be enrolled
with can also sign in. What an id must exist as is the service's business (NOT_FOUND)."""

from __future__ import annotations

from collections.abc import Callable

MAX_ID = 128


def check_id(value: str, field: str, *, error: Callable[[str], Exception], optional: bool = False) -> str:
    """`value` when it is 1..MAX_ID characters (or empty, for an `optional` field); else raises
    `error` with a message naming `field`. Pure, for domain modules; a request's ids are checked
    with `services.common.validation.check_request_id` (INVALID_ARGUMENT)."""
    if not value and not optional:
        raise error(f"{field}: must be 1..{MAX_ID} characters")
    if len(value) > MAX_ID:
        raise error(f"{field}: at most {MAX_ID} characters" if optional else f"{field}: must be 1..{MAX_ID} characters")
    return value
