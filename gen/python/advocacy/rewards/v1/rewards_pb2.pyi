import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LedgerEntry(_message.Message):
    __slots__ = ("entry_id", "advocate_id", "points", "rule", "rule_set_version", "source_event_id", "campaign_id", "occurred_at", "content_id")
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    RULE_SET_VERSION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    entry_id: str
    advocate_id: str
    points: int
    rule: str
    rule_set_version: int
    source_event_id: str
    campaign_id: str
    occurred_at: _timestamp_pb2.Timestamp
    content_id: str
    def __init__(self, entry_id: _Optional[str] = ..., advocate_id: _Optional[str] = ..., points: _Optional[int] = ..., rule: _Optional[str] = ..., rule_set_version: _Optional[int] = ..., source_event_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., content_id: _Optional[str] = ...) -> None: ...

class PointsAwarded(_message.Message):
    __slots__ = ("event_id", "occurred_at", "entry", "thank_you")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    THANK_YOU_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    entry: LedgerEntry
    thank_you: str
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., entry: _Optional[_Union[LedgerEntry, _Mapping]] = ..., thank_you: _Optional[str] = ...) -> None: ...

class GetBalanceRequest(_message.Message):
    __slots__ = ("advocate_id",)
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    advocate_id: str
    def __init__(self, advocate_id: _Optional[str] = ...) -> None: ...

class Balance(_message.Message):
    __slots__ = ("advocate_id", "points", "entries")
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    advocate_id: str
    points: int
    entries: int
    def __init__(self, advocate_id: _Optional[str] = ..., points: _Optional[int] = ..., entries: _Optional[int] = ...) -> None: ...

class ListLedgerRequest(_message.Message):
    __slots__ = ("advocate_id", "page_size")
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    advocate_id: str
    page_size: int
    def __init__(self, advocate_id: _Optional[str] = ..., page_size: _Optional[int] = ...) -> None: ...

class ListLedgerResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[LedgerEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[LedgerEntry, _Mapping]]] = ...) -> None: ...
