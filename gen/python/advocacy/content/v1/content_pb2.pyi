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

class ContentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONTENT_STATUS_UNSPECIFIED: _ClassVar[ContentStatus]
    CONTENT_STATUS_DRAFT: _ClassVar[ContentStatus]
    CONTENT_STATUS_IN_REVIEW: _ClassVar[ContentStatus]
    CONTENT_STATUS_APPROVED: _ClassVar[ContentStatus]
    CONTENT_STATUS_PUBLISHED: _ClassVar[ContentStatus]
    CONTENT_STATUS_EXPIRED: _ClassVar[ContentStatus]
    CONTENT_STATUS_ARCHIVED: _ClassVar[ContentStatus]
    CONTENT_STATUS_REJECTED: _ClassVar[ContentStatus]
CONTENT_STATUS_UNSPECIFIED: ContentStatus
CONTENT_STATUS_DRAFT: ContentStatus
CONTENT_STATUS_IN_REVIEW: ContentStatus
CONTENT_STATUS_APPROVED: ContentStatus
CONTENT_STATUS_PUBLISHED: ContentStatus
CONTENT_STATUS_EXPIRED: ContentStatus
CONTENT_STATUS_ARCHIVED: ContentStatus
CONTENT_STATUS_REJECTED: ContentStatus

class SuggestedText(_message.Message):
    __slots__ = ("network", "text")
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    network: _common_pb2.Network
    text: str
    def __init__(self, network: _Optional[_Union[_common_pb2.Network, str]] = ..., text: _Optional[str] = ...) -> None: ...

class Audience(_message.Message):
    __slots__ = ("teams", "locations", "languages", "roles")
    TEAMS_FIELD_NUMBER: _ClassVar[int]
    LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    teams: _containers.RepeatedScalarFieldContainer[str]
    locations: _containers.RepeatedScalarFieldContainer[str]
    languages: _containers.RepeatedScalarFieldContainer[str]
    roles: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, teams: _Optional[_Iterable[str]] = ..., locations: _Optional[_Iterable[str]] = ..., languages: _Optional[_Iterable[str]] = ..., roles: _Optional[_Iterable[str]] = ...) -> None: ...

class ContentItem(_message.Message):
    __slots__ = ("content_id", "title", "summary", "url", "media_urls", "topics", "language", "suggested_texts", "audience", "campaign_id", "status", "rejection_reason", "publish_at", "expires_at", "author_id", "reviewer_id", "version", "published_at", "suggested_by", "created_at", "updated_at", "preview", "source_id", "required_lesson_ids")
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    MEDIA_URLS_FIELD_NUMBER: _ClassVar[int]
    TOPICS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_TEXTS_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REJECTION_REASON_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_LESSON_IDS_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    title: str
    summary: str
    url: str
    media_urls: _containers.RepeatedScalarFieldContainer[str]
    topics: _containers.RepeatedScalarFieldContainer[str]
    language: str
    suggested_texts: _containers.RepeatedCompositeFieldContainer[SuggestedText]
    audience: Audience
    campaign_id: str
    status: ContentStatus
    rejection_reason: str
    publish_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    author_id: str
    reviewer_id: str
    version: int
    published_at: _timestamp_pb2.Timestamp
    suggested_by: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    preview: LinkPreview
    source_id: str
    required_lesson_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, content_id: _Optional[str] = ..., title: _Optional[str] = ..., summary: _Optional[str] = ..., url: _Optional[str] = ..., media_urls: _Optional[_Iterable[str]] = ..., topics: _Optional[_Iterable[str]] = ..., language: _Optional[str] = ..., suggested_texts: _Optional[_Iterable[_Union[SuggestedText, _Mapping]]] = ..., audience: _Optional[_Union[Audience, _Mapping]] = ..., campaign_id: _Optional[str] = ..., status: _Optional[_Union[ContentStatus, str]] = ..., rejection_reason: _Optional[str] = ..., publish_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., author_id: _Optional[str] = ..., reviewer_id: _Optional[str] = ..., version: _Optional[int] = ..., published_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., suggested_by: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., preview: _Optional[_Union[LinkPreview, _Mapping]] = ..., source_id: _Optional[str] = ..., required_lesson_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class LinkPreview(_message.Message):
    __slots__ = ("title", "description", "image_url", "site_name", "fetched_at")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    IMAGE_URL_FIELD_NUMBER: _ClassVar[int]
    SITE_NAME_FIELD_NUMBER: _ClassVar[int]
    FETCHED_AT_FIELD_NUMBER: _ClassVar[int]
    title: str
    description: str
    image_url: str
    site_name: str
    fetched_at: _timestamp_pb2.Timestamp
    def __init__(self, title: _Optional[str] = ..., description: _Optional[str] = ..., image_url: _Optional[str] = ..., site_name: _Optional[str] = ..., fetched_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LessonCompleted(_message.Message):
    __slots__ = ("event_id", "occurred_at", "lesson_id", "advocate", "score_percent", "attempts", "lesson_title")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    LESSON_ID_FIELD_NUMBER: _ClassVar[int]
    ADVOCATE_FIELD_NUMBER: _ClassVar[int]
    SCORE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LESSON_TITLE_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    lesson_id: str
    advocate: _common_pb2.AdvocateSnapshot
    score_percent: int
    attempts: int
    lesson_title: str
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., lesson_id: _Optional[str] = ..., advocate: _Optional[_Union[_common_pb2.AdvocateSnapshot, _Mapping]] = ..., score_percent: _Optional[int] = ..., attempts: _Optional[int] = ..., lesson_title: _Optional[str] = ...) -> None: ...

class CampaignPrerequisitesChanged(_message.Message):
    __slots__ = ("event_id", "occurred_at", "campaign_id", "lesson_ids", "version", "updated_by")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    LESSON_IDS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    campaign_id: str
    lesson_ids: _containers.RepeatedScalarFieldContainer[str]
    version: int
    updated_by: str
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., campaign_id: _Optional[str] = ..., lesson_ids: _Optional[_Iterable[str]] = ..., version: _Optional[int] = ..., updated_by: _Optional[str] = ...) -> None: ...

class ContentPublished(_message.Message):
    __slots__ = ("event_id", "occurred_at", "kind", "item", "imported")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[ContentPublished.Kind]
        KIND_PUBLISHED: _ClassVar[ContentPublished.Kind]
        KIND_EXPIRED: _ClassVar[ContentPublished.Kind]
        KIND_ARCHIVED: _ClassVar[ContentPublished.Kind]
    KIND_UNSPECIFIED: ContentPublished.Kind
    KIND_PUBLISHED: ContentPublished.Kind
    KIND_EXPIRED: ContentPublished.Kind
    KIND_ARCHIVED: ContentPublished.Kind
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    IMPORTED_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    kind: ContentPublished.Kind
    item: ContentItem
    imported: bool
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., kind: _Optional[_Union[ContentPublished.Kind, str]] = ..., item: _Optional[_Union[ContentItem, _Mapping]] = ..., imported: _Optional[bool] = ...) -> None: ...

class ImportedContent(_message.Message):
    __slots__ = ("import_key", "item", "published_at")
    IMPORT_KEY_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    import_key: str
    item: ContentItem
    published_at: _timestamp_pb2.Timestamp
    def __init__(self, import_key: _Optional[str] = ..., item: _Optional[_Union[ContentItem, _Mapping]] = ..., published_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ImportContentRequest(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[ImportedContent]
    def __init__(self, items: _Optional[_Iterable[_Union[ImportedContent, _Mapping]]] = ...) -> None: ...

class ImportedContentResult(_message.Message):
    __slots__ = ("item", "created")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    item: ContentItem
    created: bool
    def __init__(self, item: _Optional[_Union[ContentItem, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class ImportContentResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ImportedContentResult]
    def __init__(self, results: _Optional[_Iterable[_Union[ImportedContentResult, _Mapping]]] = ...) -> None: ...

class CreateContentRequest(_message.Message):
    __slots__ = ("item",)
    ITEM_FIELD_NUMBER: _ClassVar[int]
    item: ContentItem
    def __init__(self, item: _Optional[_Union[ContentItem, _Mapping]] = ...) -> None: ...

class GetContentRequest(_message.Message):
    __slots__ = ("content_id",)
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    def __init__(self, content_id: _Optional[str] = ...) -> None: ...

class TransitionRequest(_message.Message):
    __slots__ = ("content_id", "expected_version", "actor_id", "reason")
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    expected_version: int
    actor_id: str
    reason: str
    def __init__(self, content_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., actor_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class EditContentRequest(_message.Message):
    __slots__ = ("content_id", "expected_version", "item", "actor_id")
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    expected_version: int
    item: ContentItem
    actor_id: str
    def __init__(self, content_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., item: _Optional[_Union[ContentItem, _Mapping]] = ..., actor_id: _Optional[str] = ...) -> None: ...

class SuggestContentRequest(_message.Message):
    __slots__ = ("item", "advocate_id")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    item: ContentItem
    advocate_id: str
    def __init__(self, item: _Optional[_Union[ContentItem, _Mapping]] = ..., advocate_id: _Optional[str] = ...) -> None: ...

class ListContentRequest(_message.Message):
    __slots__ = ("status", "page_size", "page_token")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    status: ContentStatus
    page_size: int
    page_token: str
    def __init__(self, status: _Optional[_Union[ContentStatus, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListContentResponse(_message.Message):
    __slots__ = ("items", "next_page_token")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[ContentItem]
    next_page_token: str
    def __init__(self, items: _Optional[_Iterable[_Union[ContentItem, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListFeedRequest(_message.Message):
    __slots__ = ("advocate_id", "page_size", "page_token")
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    advocate_id: str
    page_size: int
    page_token: str
    def __init__(self, advocate_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class FeedEntry(_message.Message):
    __slots__ = ("item", "already_shared", "matched_interests", "score")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    ALREADY_SHARED_FIELD_NUMBER: _ClassVar[int]
    MATCHED_INTERESTS_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    item: ContentItem
    already_shared: bool
    matched_interests: _containers.RepeatedScalarFieldContainer[str]
    score: float
    def __init__(self, item: _Optional[_Union[ContentItem, _Mapping]] = ..., already_shared: _Optional[bool] = ..., matched_interests: _Optional[_Iterable[str]] = ..., score: _Optional[float] = ...) -> None: ...

class ListFeedResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[FeedEntry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[FeedEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SourceDefaults(_message.Message):
    __slots__ = ("topics", "language", "audience", "campaign_id", "publish_directly")
    TOPICS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_DIRECTLY_FIELD_NUMBER: _ClassVar[int]
    topics: _containers.RepeatedScalarFieldContainer[str]
    language: str
    audience: Audience
    campaign_id: str
    publish_directly: bool
    def __init__(self, topics: _Optional[_Iterable[str]] = ..., language: _Optional[str] = ..., audience: _Optional[_Union[Audience, _Mapping]] = ..., campaign_id: _Optional[str] = ..., publish_directly: _Optional[bool] = ...) -> None: ...

class SourceStatus(_message.Message):
    __slots__ = ("last_poll_at", "last_success_at", "last_error", "consecutive_failures", "next_poll_at", "items_created", "etag", "last_modified")
    LAST_POLL_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_SUCCESS_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    CONSECUTIVE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    NEXT_POLL_AT_FIELD_NUMBER: _ClassVar[int]
    ITEMS_CREATED_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    LAST_MODIFIED_FIELD_NUMBER: _ClassVar[int]
    last_poll_at: _timestamp_pb2.Timestamp
    last_success_at: _timestamp_pb2.Timestamp
    last_error: str
    consecutive_failures: int
    next_poll_at: _timestamp_pb2.Timestamp
    items_created: int
    etag: str
    last_modified: str
    def __init__(self, last_poll_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_success_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_error: _Optional[str] = ..., consecutive_failures: _Optional[int] = ..., next_poll_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., items_created: _Optional[int] = ..., etag: _Optional[str] = ..., last_modified: _Optional[str] = ...) -> None: ...

class FeedSource(_message.Message):
    __slots__ = ("source_id", "url", "defaults", "poll_interval_seconds", "paused", "status", "created_at", "created_by")
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    DEFAULTS_FIELD_NUMBER: _ClassVar[int]
    POLL_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    source_id: str
    url: str
    defaults: SourceDefaults
    poll_interval_seconds: int
    paused: bool
    status: SourceStatus
    created_at: _timestamp_pb2.Timestamp
    created_by: str
    def __init__(self, source_id: _Optional[str] = ..., url: _Optional[str] = ..., defaults: _Optional[_Union[SourceDefaults, _Mapping]] = ..., poll_interval_seconds: _Optional[int] = ..., paused: _Optional[bool] = ..., status: _Optional[_Union[SourceStatus, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ...) -> None: ...

class CreateSourceRequest(_message.Message):
    __slots__ = ("source",)
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    source: FeedSource
    def __init__(self, source: _Optional[_Union[FeedSource, _Mapping]] = ...) -> None: ...

class ListSourcesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSourcesResponse(_message.Message):
    __slots__ = ("sources", "next_page_token")
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    sources: _containers.RepeatedCompositeFieldContainer[FeedSource]
    next_page_token: str
    def __init__(self, sources: _Optional[_Iterable[_Union[FeedSource, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PauseSourceRequest(_message.Message):
    __slots__ = ("source_id", "paused")
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    source_id: str
    paused: bool
    def __init__(self, source_id: _Optional[str] = ..., paused: _Optional[bool] = ...) -> None: ...

class DeleteSourceRequest(_message.Message):
    __slots__ = ("source_id",)
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    source_id: str
    def __init__(self, source_id: _Optional[str] = ...) -> None: ...

class DeleteSourceResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
