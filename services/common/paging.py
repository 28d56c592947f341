"""Page sizes and page tokens of the List RPCs (google.aip.dev/158), one style for every service.

A token is the urlsafe base64 of a small JSON object: the position of the last element returned
(the values of the sort key, e.g. `[occurred_at, _id]`) and a short digest of the request's other
parameters (its scope: whose ledger, which metric and range). Clients treat it as opaque. A token
that does not decode to the expected shape, or that was issued for another request, is refused with
INVALID_ARGUMENT naming `page_token`. Positions are keys, never offsets: a page reads the elements
sorted after the last one returned (a range on an indexed key), so following the tokens lists every
element present throughout exactly once, while elements are added or removed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from grpc_interceptor.exceptions import InvalidArgument

T = TypeVar("T")

NOT_ISSUED = "page_token: not a token this service issued"
# A token is a few short keys; anything longer was not issued here.
MAX_TOKEN = 2_000


def page_size(value: int, default: int, maximum: int, field: str = "page_size") -> int:
    """The page size asked for: 0 is the RPC's default, above `maximum` is refused (as ListContent)."""
    if not 0 <= value <= maximum:
        raise InvalidArgument(f"{field}: must be 0..{maximum} (0 = {default})")
    return value or default


def _digest(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:16]


def encode_token(position: Sequence[Any], scope: str = "") -> str:
    """The token of the element at `position` (str, int, float or datetime; a naive one is UTC,
    as a database client without tz_aware returns stored times)."""
    payload: dict[str, Any] = {"k": [_json(v) for v in position]}
    if scope:
        payload["s"] = _digest(scope)
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return value


def decode_token(token: str, shape: Sequence[type], scope: str = "") -> list[Any]:
    """The position a token carries, checked against `shape` (one type per key value; `float`
    accepts an int, `datetime` an aware ISO 8601 string) and against the request's `scope`.
    Raises InvalidArgument."""
    try:
        if len(token) > MAX_TOKEN:
            raise ValueError("too long")
        payload = json.loads(base64.b64decode(token.encode(), altchars=b"-_", validate=True))
        if not isinstance(payload, dict) or not isinstance(payload.get("k"), list) or len(payload["k"]) != len(shape):
            raise ValueError("bad shape")
        position = [_value(value, kind) for value, kind in zip(payload["k"], shape, strict=True)]
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidArgument(NOT_ISSUED) from exc
    if payload.get("s", "") != (_digest(scope) if scope else ""):
        raise InvalidArgument(
            "page_token: issued for a request with other parameters; send the same parameters "
            "as the first page (only page_size may change), or start again without a token"
        )
    return position


def _value(value: Any, kind: type) -> Any:
    if kind is datetime:
        at = datetime.fromisoformat(value) if isinstance(value, str) else None
        if at is None or at.tzinfo is None:
            raise ValueError("not an aware time")
        return at
    accepted = (int, float) if kind is float else (kind,)
    if isinstance(value, bool) or not isinstance(value, accepted):
        raise ValueError("bad key")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("not finite")
    return value


def trim(rows: Sequence[T], size: int, position: Callable[[T], Sequence[Any]], scope: str = "") -> tuple[list[T], str]:
    """A page from `rows` read with a limit of `size + 1`: the first `size`, and the token of the
    last of them when there was one more ("" on the last page)."""
    page = list(rows[:size])
    token = encode_token(position(page[-1]), scope) if len(rows) > size and page else ""
    return page, token
