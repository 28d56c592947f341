import datetime

from advocacy.common.v1 import common_pb2 as _common_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EngagementKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENGAGEMENT_KIND_UNSPECIFIED: _ClassVar[EngagementKind]
    ENGAGEMENT_KIND_IMPRESSION: _ClassVar[EngagementKind]
    ENGAGEMENT_KIND_CLICK: _ClassVar[EngagementKind]
    ENGAGEMENT_KIND_REACTION: _ClassVar[EngagementKind]
    ENGAGEMENT_KIND_COMMENT: _ClassVar[EngagementKind]
    ENGAGEMENT_KIND_RESHARE: _ClassVar[EngagementKind]

class EngagementSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENGAGEMENT_SOURCE_UNSPECIFIED: _ClassVar[EngagementSource]
    ENGAGEMENT_SOURCE_LINK_TRACKER: _ClassVar[EngagementSource]
    ENGAGEMENT_SOURCE_NETWORK_WEBHOOK: _ClassVar[EngagementSource]
    ENGAGEMENT_SOURCE_IMPORT: _ClassVar[EngagementSource]
ENGAGEMENT_KIND_UNSPECIFIED: EngagementKind
ENGAGEMENT_KIND_IMPRESSION: EngagementKind
ENGAGEMENT_KIND_CLICK: EngagementKind
ENGAGEMENT_KIND_REACTION: EngagementKind
ENGAGEMENT_KIND_COMMENT: EngagementKind
ENGAGEMENT_KIND_RESHARE: EngagementKind
ENGAGEMENT_SOURCE_UNSPECIFIED: EngagementSource
ENGAGEMENT_SOURCE_LINK_TRACKER: EngagementSource
ENGAGEMENT_SOURCE_NETWORK_WEBHOOK: EngagementSource
ENGAGEMENT_SOURCE_IMPORT: EngagementSource

class NetworkConnection(_message.Message):
    __slots__ = ("network", "audience_size", "refreshed_at")
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_SIZE_FIELD_NUMBER: _ClassVar[int]
    REFRESHED_AT_FIELD_NUMBER: _ClassVar[int]
    network: _common_pb2.Network
    audience_size: int
    refreshed_at: _timestamp_pb2.Timestamp
    def __init__(self, network: _Optional[_Union[_common_pb2.Network, str]] = ..., audience_size: _Optional[int] = ..., refreshed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Advocate(_message.Message):
    __slots__ = ("profile", "interests", "networks", "enrolled", "enrolments", "version")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    INTERESTS_FIELD_NUMBER: _ClassVar[int]
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_FIELD_NUMBER: _ClassVar[int]
    ENROLMENTS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    profile: _common_pb2.AdvocateSnapshot
    interests: _containers.RepeatedScalarFieldContainer[str]
    networks: _containers.RepeatedCompositeFieldContainer[NetworkConnection]
    enrolled: bool
    enrolments: _containers.RepeatedCompositeFieldContainer[EnrolmentPeriod]
    version: int
    def __init__(self, profile: _Optional[_Union[_common_pb2.AdvocateSnapshot, _Mapping]] = ..., interests: _Optional[_Iterable[str]] = ..., networks: _Optional[_Iterable[_Union[NetworkConnection, _Mapping]]] = ..., enrolled: _Optional[bool] = ..., enrolments: _Optional[_Iterable[_Union[EnrolmentPeriod, _Mapping]]] = ..., version: _Optional[int] = ...) -> None: ...

class EnrolmentPeriod(_message.Message):
    __slots__ = ("enrolled_at", "left_at")
    ENROLLED_AT_FIELD_NUMBER: _ClassVar[int]
    LEFT_AT_FIELD_NUMBER: _ClassVar[int]
    enrolled_at: _timestamp_pb2.Timestamp
    left_at: _timestamp_pb2.Timestamp
    def __init__(self, enrolled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., left_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AdvocateChanged(_message.Message):
    __slots__ = ("event_id", "occurred_at", "advocate", "enrolments", "version", "imported")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ADVOCATE_FIELD_NUMBER: _ClassVar[int]
    ENROLMENTS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    IMPORTED_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    advocate: Advocate
    enrolments: _containers.RepeatedCompositeFieldContainer[EnrolmentPeriod]
    version: int
    imported: bool
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., advocate: _Optional[_Union[Advocate, _Mapping]] = ..., enrolments: _Optional[_Iterable[_Union[EnrolmentPeriod, _Mapping]]] = ..., version: _Optional[int] = ..., imported: _Optional[bool] = ...) -> None: ...

class Share(_message.Message):
    __slots__ = ("share_id", "content_id", "advocate_id", "network", "message", "tracked_code", "tracked_url", "audience_size", "shared_at", "idempotency_key", "campaign_id", "target_url", "own_post")
    SHARE_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TRACKED_CODE_FIELD_NUMBER: _ClassVar[int]
    TRACKED_URL_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_SIZE_FIELD_NUMBER: _ClassVar[int]
    SHARED_AT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_URL_FIELD_NUMBER: _ClassVar[int]
    OWN_POST_FIELD_NUMBER: _ClassVar[int]
    share_id: str
    content_id: str
    advocate_id: str
    network: _common_pb2.Network
    message: str
    tracked_code: str
    tracked_url: str
    audience_size: int
    shared_at: _timestamp_pb2.Timestamp
    idempotency_key: str
    campaign_id: str
    target_url: str
    own_post: bool
    def __init__(self, share_id: _Optional[str] = ..., content_id: _Optional[str] = ..., advocate_id: _Optional[str] = ..., network: _Optional[_Union[_common_pb2.Network, str]] = ..., message: _Optional[str] = ..., tracked_code: _Optional[str] = ..., tracked_url: _Optional[str] = ..., audience_size: _Optional[int] = ..., shared_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., campaign_id: _Optional[str] = ..., target_url: _Optional[str] = ..., own_post: _Optional[bool] = ...) -> None: ...

class ShareMade(_message.Message):
    __slots__ = ("event_id", "occurred_at", "share", "advocate", "campaign_id", "personal_wording", "content_published_at", "imported")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    ADVOCATE_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    PERSONAL_WORDING_FIELD_NUMBER: _ClassVar[int]
    CONTENT_PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    IMPORTED_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    share: Share
    advocate: _common_pb2.AdvocateSnapshot
    campaign_id: str
    personal_wording: bool
    content_published_at: _timestamp_pb2.Timestamp
    imported: bool
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., share: _Optional[_Union[Share, _Mapping]] = ..., advocate: _Optional[_Union[_common_pb2.AdvocateSnapshot, _Mapping]] = ..., campaign_id: _Optional[str] = ..., personal_wording: _Optional[bool] = ..., content_published_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., imported: _Optional[bool] = ...) -> None: ...

class EngagementObserved(_message.Message):
    __slots__ = ("event_id", "occurred_at", "share_id", "content_id", "advocate", "network", "kind", "count", "source", "actor_fingerprint", "comment_text", "campaign_id", "is_bot", "is_self", "own_post")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    SHARE_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    ADVOCATE_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    COMMENT_TEXT_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    IS_BOT_FIELD_NUMBER: _ClassVar[int]
    IS_SELF_FIELD_NUMBER: _ClassVar[int]
    OWN_POST_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    share_id: str
    content_id: str
    advocate: _common_pb2.AdvocateSnapshot
    network: _common_pb2.Network
    kind: EngagementKind
    count: int
    source: EngagementSource
    actor_fingerprint: str
    comment_text: str
    campaign_id: str
    is_bot: bool
    is_self: bool
    own_post: bool
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., share_id: _Optional[str] = ..., content_id: _Optional[str] = ..., advocate: _Optional[_Union[_common_pb2.AdvocateSnapshot, _Mapping]] = ..., network: _Optional[_Union[_common_pb2.Network, str]] = ..., kind: _Optional[_Union[EngagementKind, str]] = ..., count: _Optional[int] = ..., source: _Optional[_Union[EngagementSource, str]] = ..., actor_fingerprint: _Optional[str] = ..., comment_text: _Optional[str] = ..., campaign_id: _Optional[str] = ..., is_bot: _Optional[bool] = ..., is_self: _Optional[bool] = ..., own_post: _Optional[bool] = ...) -> None: ...

class EnrollAdvocateRequest(_message.Message):
    __slots__ = ("advocate",)
    ADVOCATE_FIELD_NUMBER: _ClassVar[int]
    advocate: Advocate
    def __init__(self, advocate: _Optional[_Union[Advocate, _Mapping]] = ...) -> None: ...

class GetAdvocateRequest(_message.Message):
    __slots__ = ("advocate_id",)
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    advocate_id: str
    def __init__(self, advocate_id: _Optional[str] = ...) -> None: ...

class RecordShareRequest(_message.Message):
    __slots__ = ("content_id", "advocate_id", "network", "message", "idempotency_key", "sharer_client_ip", "sharer_user_agent")
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    SHARER_CLIENT_IP_FIELD_NUMBER: _ClassVar[int]
    SHARER_USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    advocate_id: str
    network: _common_pb2.Network
    message: str
    idempotency_key: str
    sharer_client_ip: str
    sharer_user_agent: str
    def __init__(self, content_id: _Optional[str] = ..., advocate_id: _Optional[str] = ..., network: _Optional[_Union[_common_pb2.Network, str]] = ..., message: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., sharer_client_ip: _Optional[str] = ..., sharer_user_agent: _Optional[str] = ...) -> None: ...

class RecordOwnPostRequest(_message.Message):
    __slots__ = ("advocate_id", "network", "url", "message", "idempotency_key", "sharer_client_ip", "sharer_user_agent")
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    SHARER_CLIENT_IP_FIELD_NUMBER: _ClassVar[int]
    SHARER_USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    advocate_id: str
    network: _common_pb2.Network
    url: str
    message: str
    idempotency_key: str
    sharer_client_ip: str
    sharer_user_agent: str
    def __init__(self, advocate_id: _Optional[str] = ..., network: _Optional[_Union[_common_pb2.Network, str]] = ..., url: _Optional[str] = ..., message: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., sharer_client_ip: _Optional[str] = ..., sharer_user_agent: _Optional[str] = ...) -> None: ...

class RecordShareResponse(_message.Message):
    __slots__ = ("share", "created")
    SHARE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    share: Share
    created: bool
    def __init__(self, share: _Optional[_Union[Share, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class LeaveRequest(_message.Message):
    __slots__ = ("advocate_id",)
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    advocate_id: str
    def __init__(self, advocate_id: _Optional[str] = ...) -> None: ...

class UpdateProfileRequest(_message.Message):
    __slots__ = ("profile", "interests")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    INTERESTS_FIELD_NUMBER: _ClassVar[int]
    profile: _common_pb2.AdvocateSnapshot
    interests: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, profile: _Optional[_Union[_common_pb2.AdvocateSnapshot, _Mapping]] = ..., interests: _Optional[_Iterable[str]] = ...) -> None: ...

class ConnectNetworkRequest(_message.Message):
    __slots__ = ("advocate_id", "connection")
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    advocate_id: str
    connection: NetworkConnection
    def __init__(self, advocate_id: _Optional[str] = ..., connection: _Optional[_Union[NetworkConnection, _Mapping]] = ...) -> None: ...

class DisconnectNetworkRequest(_message.Message):
    __slots__ = ("advocate_id", "network")
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    advocate_id: str
    network: _common_pb2.Network
    def __init__(self, advocate_id: _Optional[str] = ..., network: _Optional[_Union[_common_pb2.Network, str]] = ...) -> None: ...

class ListSharesByAdvocateRequest(_message.Message):
    __slots__ = ("advocate_id", "page_size", "page_token")
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    advocate_id: str
    page_size: int
    page_token: str
    def __init__(self, advocate_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSharesByContentRequest(_message.Message):
    __slots__ = ("content_id", "page_size", "page_token")
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    page_size: int
    page_token: str
    def __init__(self, content_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSharesResponse(_message.Message):
    __slots__ = ("shares", "next_page_token")
    SHARES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    shares: _containers.RepeatedCompositeFieldContainer[Share]
    next_page_token: str
    def __init__(self, shares: _Optional[_Iterable[_Union[Share, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class EngagementReport(_message.Message):
    __slots__ = ("share_id", "tracked_code", "kind", "count", "source", "source_event_id", "observed_at", "comment_text", "actor_id")
    SHARE_ID_FIELD_NUMBER: _ClassVar[int]
    TRACKED_CODE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_AT_FIELD_NUMBER: _ClassVar[int]
    COMMENT_TEXT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    share_id: str
    tracked_code: str
    kind: EngagementKind
    count: int
    source: EngagementSource
    source_event_id: str
    observed_at: _timestamp_pb2.Timestamp
    comment_text: str
    actor_id: str
    def __init__(self, share_id: _Optional[str] = ..., tracked_code: _Optional[str] = ..., kind: _Optional[_Union[EngagementKind, str]] = ..., count: _Optional[int] = ..., source: _Optional[_Union[EngagementSource, str]] = ..., source_event_id: _Optional[str] = ..., observed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., comment_text: _Optional[str] = ..., actor_id: _Optional[str] = ...) -> None: ...

class RecordEngagementRequest(_message.Message):
    __slots__ = ("reports",)
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    reports: _containers.RepeatedCompositeFieldContainer[EngagementReport]
    def __init__(self, reports: _Optional[_Iterable[_Union[EngagementReport, _Mapping]]] = ...) -> None: ...

class EngagementResult(_message.Message):
    __slots__ = ("event_id", "created", "share_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    SHARE_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    created: bool
    share_id: str
    def __init__(self, event_id: _Optional[str] = ..., created: _Optional[bool] = ..., share_id: _Optional[str] = ...) -> None: ...

class RecordEngagementResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[EngagementResult]
    def __init__(self, results: _Optional[_Iterable[_Union[EngagementResult, _Mapping]]] = ...) -> None: ...

class ImportedAdvocate(_message.Message):
    __slots__ = ("advocate", "enrolled_at")
    ADVOCATE_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_AT_FIELD_NUMBER: _ClassVar[int]
    advocate: Advocate
    enrolled_at: _timestamp_pb2.Timestamp
    def __init__(self, advocate: _Optional[_Union[Advocate, _Mapping]] = ..., enrolled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ImportAdvocatesRequest(_message.Message):
    __slots__ = ("advocates",)
    ADVOCATES_FIELD_NUMBER: _ClassVar[int]
    advocates: _containers.RepeatedCompositeFieldContainer[ImportedAdvocate]
    def __init__(self, advocates: _Optional[_Iterable[_Union[ImportedAdvocate, _Mapping]]] = ...) -> None: ...

class ImportedAdvocateResult(_message.Message):
    __slots__ = ("advocate", "created")
    ADVOCATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    advocate: Advocate
    created: bool
    def __init__(self, advocate: _Optional[_Union[Advocate, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class ImportAdvocatesResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ImportedAdvocateResult]
    def __init__(self, results: _Optional[_Iterable[_Union[ImportedAdvocateResult, _Mapping]]] = ...) -> None: ...

class ImportedShare(_message.Message):
    __slots__ = ("idempotency_key", "advocate_id", "network", "message", "shared_at", "content_id", "own_post_url")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SHARED_AT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    OWN_POST_URL_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    advocate_id: str
    network: _common_pb2.Network
    message: str
    shared_at: _timestamp_pb2.Timestamp
    content_id: str
    own_post_url: str
    def __init__(self, idempotency_key: _Optional[str] = ..., advocate_id: _Optional[str] = ..., network: _Optional[_Union[_common_pb2.Network, str]] = ..., message: _Optional[str] = ..., shared_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., content_id: _Optional[str] = ..., own_post_url: _Optional[str] = ...) -> None: ...

class ImportSharesRequest(_message.Message):
    __slots__ = ("shares",)
    SHARES_FIELD_NUMBER: _ClassVar[int]
    shares: _containers.RepeatedCompositeFieldContainer[ImportedShare]
    def __init__(self, shares: _Optional[_Iterable[_Union[ImportedShare, _Mapping]]] = ...) -> None: ...

class ImportSharesResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[RecordShareResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[RecordShareResponse, _Mapping]]] = ...) -> None: ...
