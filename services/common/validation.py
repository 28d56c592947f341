"""Bounds every request of every RPC before a servicer sees it, from the message descriptors.

The servicers check what each field means (ids, URLs, page sizes, states) with their own limits;
this guard makes sure no request, whatever its fields, reaches them with what the stack cannot
hold or would fail on: a string or list of unbounded size, a timestamp outside 0001..9999 (Python's
datetime raises), NaN / infinity (MongoDB-protocol servers refuse them), an enum number the proto
does not define, or a map key MongoDB cannot store. The error names the field, e.g.
`item.publish_at: not a valid timestamp`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from grpc_interceptor import AsyncServerInterceptor
from grpc_interceptor.exceptions import InvalidArgument

from services.common.events import from_timestamp
from services.common.ids import check_id

# Above every field-specific limit in the services (the longest is a 10,000-character comment).
MAX_STRING = 10_000
MAX_BYTES = 10_000
# Above every list limit in the services (500 engagement reports per call).
MAX_REPEATED = 1_000
MAX_MAP = 100
# google.protobuf.Timestamp's documented range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z.
MIN_SECONDS = -62_135_596_800
MAX_SECONDS = 253_402_300_799


def check_request_id(value: str, field: str, *, optional: bool = False) -> str:
    """An id a request names, by the one rule (services/common/ids.py); INVALID_ARGUMENT if not."""
    return check_id(value, field, optional=optional, error=InvalidArgument)


# History imported from a previous tool (Import* RPCs) reaches back no further than this.
EARLIEST_HISTORY = datetime(2000, 1, 1, tzinfo=UTC)


def check_past_time(message: Message, field: str, name: str, now: datetime) -> datetime:
    """A required Timestamp of imported history: set, not before EARLIEST_HISTORY, not after
    `now`; INVALID_ARGUMENT naming `name` otherwise."""
    if not message.HasField(field):
        raise InvalidArgument(f"{name}: required")
    ts = getattr(message, field)
    at = from_timestamp(ts)
    if at < EARLIEST_HISTORY:
        raise InvalidArgument(f"{name}: before {EARLIEST_HISTORY.date().isoformat()} ({ts.ToJsonString()})")
    if at > now:
        raise InvalidArgument(f"{name}: lies in the future ({ts.ToJsonString()}); only the past can be imported")
    return at


def check_request(message: Message, prefix: str = "") -> None:
    """Raises InvalidArgument naming the first field out of bounds."""
    if message.DESCRIPTOR.full_name == "google.protobuf.Timestamp":
        _check_timestamp(message, prefix.rstrip("."))
        return
    for field, value in message.ListFields():
        name = f"{prefix}{field.name}"
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            _check_map(field, value, name)
        elif field.is_repeated:
            if len(value) > MAX_REPEATED:
                raise InvalidArgument(f"{name}: at most {MAX_REPEATED} values")
            for i, item in enumerate(value):
                _check_value(field, item, f"{name}[{i}]")
        else:
            _check_value(field, value, name)


def _check_value(field: FieldDescriptor, value: Any, name: str) -> None:
    t = field.type
    if t == FieldDescriptor.TYPE_MESSAGE:
        check_request(value, f"{name}.")
    elif t == FieldDescriptor.TYPE_STRING and len(value) > MAX_STRING:
        raise InvalidArgument(f"{name}: at most {MAX_STRING} characters")
    elif t == FieldDescriptor.TYPE_BYTES and len(value) > MAX_BYTES:
        raise InvalidArgument(f"{name}: at most {MAX_BYTES} bytes")
    elif t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT) and not math.isfinite(value):
        raise InvalidArgument(f"{name}: must be a finite number")
    elif t == FieldDescriptor.TYPE_ENUM and (enum := field.enum_type) is not None:
        if enum.values_by_number.get(value) is None:
            raise InvalidArgument(f"{name}: unknown {enum.name} value {value}")


def _check_map(field: FieldDescriptor, value: Any, name: str) -> None:
    if len(value) > MAX_MAP:
        raise InvalidArgument(f"{name}: at most {MAX_MAP} entries")
    assert field.message_type is not None, "a map field's entries are messages"
    value_field = field.message_type.fields_by_name["value"]
    for key, item in value.items():
        # Map keys may end up as document keys: MongoDB refuses '.' inside and '$' in front.
        if isinstance(key, str) and (not key or len(key) > 128 or "." in key or key.startswith("$") or "\0" in key):
            raise InvalidArgument(f"{name}: key {key[:40]!r} must be 1..128 characters without '.', '$' or NUL")
        _check_value(value_field, item, f"{name}[{key!r}]")


def _check_timestamp(ts: Any, name: str) -> None:
    if not MIN_SECONDS <= ts.seconds <= MAX_SECONDS or not 0 <= ts.nanos <= 999_999_999:
        raise InvalidArgument(f"{name}: not a valid timestamp (years 0001..9999, nanos 0..999999999)")


class ValidationInterceptor(AsyncServerInterceptor):
    """Applies `check_request` to every unary request (after authentication: an anonymous caller
    learns nothing about the API from its validation errors)."""

    async def intercept(
        self, method: Callable[..., Any], request: Any, context: grpc.aio.ServicerContext, method_name: str
    ) -> Any:
        if isinstance(request, Message):
            check_request(request)
        response = method(request, context)
        return response if hasattr(response, "__aiter__") else await response
