import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Channel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_UNSPECIFIED: _ClassVar[Channel]
    CHANNEL_EMAIL: _ClassVar[Channel]
    CHANNEL_SLACK: _ClassVar[Channel]
    CHANNEL_TEAMS: _ClassVar[Channel]
    CHANNEL_TOPIC: _ClassVar[Channel]

class NotificationKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NOTIFICATION_KIND_UNSPECIFIED: _ClassVar[NotificationKind]
    NOTIFICATION_KIND_THANK_YOU: _ClassVar[NotificationKind]
    NOTIFICATION_KIND_NEW_CONTENT: _ClassVar[NotificationKind]
    NOTIFICATION_KIND_LEADER_SHARED: _ClassVar[NotificationKind]
    NOTIFICATION_KIND_DIGEST: _ClassVar[NotificationKind]

class DigestFrequency(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIGEST_FREQUENCY_UNSPECIFIED: _ClassVar[DigestFrequency]
    DIGEST_FREQUENCY_OFF: _ClassVar[DigestFrequency]
    DIGEST_FREQUENCY_DAILY: _ClassVar[DigestFrequency]
    DIGEST_FREQUENCY_WEEKLY: _ClassVar[DigestFrequency]
CHANNEL_UNSPECIFIED: Channel
CHANNEL_EMAIL: Channel
CHANNEL_SLACK: Channel
CHANNEL_TEAMS: Channel
CHANNEL_TOPIC: Channel
NOTIFICATION_KIND_UNSPECIFIED: NotificationKind
NOTIFICATION_KIND_THANK_YOU: NotificationKind
NOTIFICATION_KIND_NEW_CONTENT: NotificationKind
NOTIFICATION_KIND_LEADER_SHARED: NotificationKind
NOTIFICATION_KIND_DIGEST: NotificationKind
DIGEST_FREQUENCY_UNSPECIFIED: DigestFrequency
DIGEST_FREQUENCY_OFF: DigestFrequency
DIGEST_FREQUENCY_DAILY: DigestFrequency
DIGEST_FREQUENCY_WEEKLY: DigestFrequency

class NotificationSent(_message.Message):
    __slots__ = ("event_id", "occurred_at", "advocate_id", "kind", "language", "subject", "text", "html", "data_json", "unsubscribe_url")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    HTML_FIELD_NUMBER: _ClassVar[int]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    UNSUBSCRIBE_URL_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    advocate_id: str
    kind: str
    language: str
    subject: str
    text: str
    html: str
    data_json: str
    unsubscribe_url: str
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., advocate_id: _Optional[str] = ..., kind: _Optional[str] = ..., language: _Optional[str] = ..., subject: _Optional[str] = ..., text: _Optional[str] = ..., html: _Optional[str] = ..., data_json: _Optional[str] = ..., unsubscribe_url: _Optional[str] = ...) -> None: ...

class ChannelSetting(_message.Message):
    __slots__ = ("channel", "address")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    channel: Channel
    address: str
    def __init__(self, channel: _Optional[_Union[Channel, str]] = ..., address: _Optional[str] = ...) -> None: ...

class Preferences(_message.Message):
    __slots__ = ("channels", "kinds", "digest_frequency", "quiet_hours_start", "quiet_hours_end", "opted_out")
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    QUIET_HOURS_START_FIELD_NUMBER: _ClassVar[int]
    QUIET_HOURS_END_FIELD_NUMBER: _ClassVar[int]
    OPTED_OUT_FIELD_NUMBER: _ClassVar[int]
    channels: _containers.RepeatedCompositeFieldContainer[ChannelSetting]
    kinds: _containers.RepeatedScalarFieldContainer[NotificationKind]
    digest_frequency: DigestFrequency
    quiet_hours_start: str
    quiet_hours_end: str
    opted_out: bool
    def __init__(self, channels: _Optional[_Iterable[_Union[ChannelSetting, _Mapping]]] = ..., kinds: _Optional[_Iterable[_Union[NotificationKind, str]]] = ..., digest_frequency: _Optional[_Union[DigestFrequency, str]] = ..., quiet_hours_start: _Optional[str] = ..., quiet_hours_end: _Optional[str] = ..., opted_out: _Optional[bool] = ...) -> None: ...

class GetPreferencesRequest(_message.Message):
    __slots__ = ("advocate_id",)
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    advocate_id: str
    def __init__(self, advocate_id: _Optional[str] = ...) -> None: ...

class UpdatePreferencesRequest(_message.Message):
    __slots__ = ("advocate_id", "preferences")
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    advocate_id: str
    preferences: Preferences
    def __init__(self, advocate_id: _Optional[str] = ..., preferences: _Optional[_Union[Preferences, _Mapping]] = ...) -> None: ...

class OptOutRequest(_message.Message):
    __slots__ = ("advocate_id",)
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    advocate_id: str
    def __init__(self, advocate_id: _Optional[str] = ...) -> None: ...

class AdvocatePreferences(_message.Message):
    __slots__ = ("advocate_id", "preferences", "company_default")
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    COMPANY_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    advocate_id: str
    preferences: Preferences
    company_default: bool
    def __init__(self, advocate_id: _Optional[str] = ..., preferences: _Optional[_Union[Preferences, _Mapping]] = ..., company_default: _Optional[bool] = ...) -> None: ...

class GetCompanyDefaultsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PutCompanyDefaultsRequest(_message.Message):
    __slots__ = ("preferences",)
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    preferences: Preferences
    def __init__(self, preferences: _Optional[_Union[Preferences, _Mapping]] = ...) -> None: ...
