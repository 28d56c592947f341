from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Network(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NETWORK_UNSPECIFIED: _ClassVar[Network]
    NETWORK_LINKEDIN: _ClassVar[Network]
    NETWORK_X: _ClassVar[Network]
    NETWORK_FACEBOOK: _ClassVar[Network]
    NETWORK_XING: _ClassVar[Network]
    NETWORK_INSTAGRAM: _ClassVar[Network]
NETWORK_UNSPECIFIED: Network
NETWORK_LINKEDIN: Network
NETWORK_X: Network
NETWORK_FACEBOOK: Network
NETWORK_XING: Network
NETWORK_INSTAGRAM: Network

class AdvocateSnapshot(_message.Message):
    __slots__ = ("advocate_id", "display_name", "team", "location", "language", "role", "leader", "timezone")
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    advocate_id: str
    display_name: str
    team: str
    location: str
    language: str
    role: str
    leader: bool
    timezone: str
    def __init__(self, advocate_id: _Optional[str] = ..., display_name: _Optional[str] = ..., team: _Optional[str] = ..., location: _Optional[str] = ..., language: _Optional[str] = ..., role: _Optional[str] = ..., leader: _Optional[bool] = ..., timezone: _Optional[str] = ...) -> None: ...
