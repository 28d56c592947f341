from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class GetContentStatsRequest(_message.Message):
    __slots__ = ("content_id",)
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    def __init__(self, content_id: _Optional[str] = ...) -> None: ...

class ContentStats(_message.Message):
    __slots__ = ("content_id", "shares", "distinct_sharers", "potential_reach")
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_SHARERS_FIELD_NUMBER: _ClassVar[int]
    POTENTIAL_REACH_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    shares: int
    distinct_sharers: int
    potential_reach: int
    def __init__(self, content_id: _Optional[str] = ..., shares: _Optional[int] = ..., distinct_sharers: _Optional[int] = ..., potential_reach: _Optional[int] = ...) -> None: ...
