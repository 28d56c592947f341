"""Helpers for building events: ids and timestamps every event carries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp


def new_event_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_timestamp(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def from_timestamp(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


def optional_time(message: Message, field: str) -> datetime | None:
    """A Timestamp field as a datetime, or None when it is not set."""
    return from_timestamp(getattr(message, field)) if message.HasField(field) else None


def nonzero_time(ts: Timestamp) -> datetime | None:
    """A Timestamp as a datetime, or None for the zero Timestamp (1970-01-01T00:00:00Z): where an
    explicitly sent zero must count as missing too (analytics' event times and ranges)."""
    return from_timestamp(ts) if ts.seconds or ts.nanos else None
