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

class Dimension(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIMENSION_UNSPECIFIED: _ClassVar[Dimension]
    DIMENSION_CONTENT: _ClassVar[Dimension]
    DIMENSION_ADVOCATE: _ClassVar[Dimension]
    DIMENSION_TEAM: _ClassVar[Dimension]
    DIMENSION_CAMPAIGN: _ClassVar[Dimension]
    DIMENSION_NETWORK: _ClassVar[Dimension]
    DIMENSION_PROGRAM: _ClassVar[Dimension]
    DIMENSION_ORIGIN: _ClassVar[Dimension]

class Granularity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GRANULARITY_UNSPECIFIED: _ClassVar[Granularity]
    GRANULARITY_HOUR: _ClassVar[Granularity]
    GRANULARITY_DAY: _ClassVar[Granularity]
    GRANULARITY_ALL_TIME: _ClassVar[Granularity]

class RateBasis(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RATE_BASIS_UNSPECIFIED: _ClassVar[RateBasis]
    RATE_BASIS_IMPRESSIONS: _ClassVar[RateBasis]
    RATE_BASIS_POTENTIAL_REACH: _ClassVar[RateBasis]
    RATE_BASIS_NONE: _ClassVar[RateBasis]

class TopMetric(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOP_METRIC_UNSPECIFIED: _ClassVar[TopMetric]
    TOP_METRIC_POTENTIAL_REACH: _ClassVar[TopMetric]
    TOP_METRIC_ENGAGEMENTS: _ClassVar[TopMetric]
    TOP_METRIC_EARNED_MEDIA_VALUE: _ClassVar[TopMetric]
DIMENSION_UNSPECIFIED: Dimension
DIMENSION_CONTENT: Dimension
DIMENSION_ADVOCATE: Dimension
DIMENSION_TEAM: Dimension
DIMENSION_CAMPAIGN: Dimension
DIMENSION_NETWORK: Dimension
DIMENSION_PROGRAM: Dimension
DIMENSION_ORIGIN: Dimension
GRANULARITY_UNSPECIFIED: Granularity
GRANULARITY_HOUR: Granularity
GRANULARITY_DAY: Granularity
GRANULARITY_ALL_TIME: Granularity
RATE_BASIS_UNSPECIFIED: RateBasis
RATE_BASIS_IMPRESSIONS: RateBasis
RATE_BASIS_POTENTIAL_REACH: RateBasis
RATE_BASIS_NONE: RateBasis
TOP_METRIC_UNSPECIFIED: TopMetric
TOP_METRIC_POTENTIAL_REACH: TopMetric
TOP_METRIC_ENGAGEMENTS: TopMetric
TOP_METRIC_EARNED_MEDIA_VALUE: TopMetric

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

class StatsPoint(_message.Message):
    __slots__ = ("window_start", "shares", "distinct_sharers", "potential_reach", "impressions_reported", "impressions_estimated", "unique_clicks", "reactions", "comments", "reshares", "engagements", "engagement_rate", "engagement_rate_basis", "ctr", "earned_media_value", "amplification_ratio", "adoption", "active_advocates", "enrolled_advocates", "share_rate", "leader_potential_reach", "non_leader_potential_reach", "leader_engagements", "non_leader_engagements", "leader_participation", "active_leaders", "enrolled_leaders")
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_SHARERS_FIELD_NUMBER: _ClassVar[int]
    POTENTIAL_REACH_FIELD_NUMBER: _ClassVar[int]
    IMPRESSIONS_REPORTED_FIELD_NUMBER: _ClassVar[int]
    IMPRESSIONS_ESTIMATED_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_CLICKS_FIELD_NUMBER: _ClassVar[int]
    REACTIONS_FIELD_NUMBER: _ClassVar[int]
    COMMENTS_FIELD_NUMBER: _ClassVar[int]
    RESHARES_FIELD_NUMBER: _ClassVar[int]
    ENGAGEMENTS_FIELD_NUMBER: _ClassVar[int]
    ENGAGEMENT_RATE_FIELD_NUMBER: _ClassVar[int]
    ENGAGEMENT_RATE_BASIS_FIELD_NUMBER: _ClassVar[int]
    CTR_FIELD_NUMBER: _ClassVar[int]
    EARNED_MEDIA_VALUE_FIELD_NUMBER: _ClassVar[int]
    AMPLIFICATION_RATIO_FIELD_NUMBER: _ClassVar[int]
    ADOPTION_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_ADVOCATES_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_ADVOCATES_FIELD_NUMBER: _ClassVar[int]
    SHARE_RATE_FIELD_NUMBER: _ClassVar[int]
    LEADER_POTENTIAL_REACH_FIELD_NUMBER: _ClassVar[int]
    NON_LEADER_POTENTIAL_REACH_FIELD_NUMBER: _ClassVar[int]
    LEADER_ENGAGEMENTS_FIELD_NUMBER: _ClassVar[int]
    NON_LEADER_ENGAGEMENTS_FIELD_NUMBER: _ClassVar[int]
    LEADER_PARTICIPATION_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_LEADERS_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_LEADERS_FIELD_NUMBER: _ClassVar[int]
    window_start: _timestamp_pb2.Timestamp
    shares: int
    distinct_sharers: int
    potential_reach: int
    impressions_reported: int
    impressions_estimated: float
    unique_clicks: int
    reactions: int
    comments: int
    reshares: int
    engagements: int
    engagement_rate: float
    engagement_rate_basis: RateBasis
    ctr: float
    earned_media_value: float
    amplification_ratio: float
    adoption: float
    active_advocates: int
    enrolled_advocates: int
    share_rate: float
    leader_potential_reach: int
    non_leader_potential_reach: int
    leader_engagements: int
    non_leader_engagements: int
    leader_participation: float
    active_leaders: int
    enrolled_leaders: int
    def __init__(self, window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., shares: _Optional[int] = ..., distinct_sharers: _Optional[int] = ..., potential_reach: _Optional[int] = ..., impressions_reported: _Optional[int] = ..., impressions_estimated: _Optional[float] = ..., unique_clicks: _Optional[int] = ..., reactions: _Optional[int] = ..., comments: _Optional[int] = ..., reshares: _Optional[int] = ..., engagements: _Optional[int] = ..., engagement_rate: _Optional[float] = ..., engagement_rate_basis: _Optional[_Union[RateBasis, str]] = ..., ctr: _Optional[float] = ..., earned_media_value: _Optional[float] = ..., amplification_ratio: _Optional[float] = ..., adoption: _Optional[float] = ..., active_advocates: _Optional[int] = ..., enrolled_advocates: _Optional[int] = ..., share_rate: _Optional[float] = ..., leader_potential_reach: _Optional[int] = ..., non_leader_potential_reach: _Optional[int] = ..., leader_engagements: _Optional[int] = ..., non_leader_engagements: _Optional[int] = ..., leader_participation: _Optional[float] = ..., active_leaders: _Optional[int] = ..., enrolled_leaders: _Optional[int] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ("dimension", "key", "start", "end", "granularity", "page_size", "page_token")
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    GRANULARITY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    dimension: Dimension
    key: str
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    granularity: Granularity
    page_size: int
    page_token: str
    def __init__(self, dimension: _Optional[_Union[Dimension, str]] = ..., key: _Optional[str] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., granularity: _Optional[_Union[Granularity, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class StatsSeries(_message.Message):
    __slots__ = ("dimension", "key", "granularity", "currency", "points", "rate_card_version", "next_page_token", "total_windows")
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    GRANULARITY_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    RATE_CARD_VERSION_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_WINDOWS_FIELD_NUMBER: _ClassVar[int]
    dimension: Dimension
    key: str
    granularity: Granularity
    currency: str
    points: _containers.RepeatedCompositeFieldContainer[StatsPoint]
    rate_card_version: int
    next_page_token: str
    total_windows: int
    def __init__(self, dimension: _Optional[_Union[Dimension, str]] = ..., key: _Optional[str] = ..., granularity: _Optional[_Union[Granularity, str]] = ..., currency: _Optional[str] = ..., points: _Optional[_Iterable[_Union[StatsPoint, _Mapping]]] = ..., rate_card_version: _Optional[int] = ..., next_page_token: _Optional[str] = ..., total_windows: _Optional[int] = ...) -> None: ...

class TopContentRequest(_message.Message):
    __slots__ = ("start", "end", "metric", "limit", "page_size", "page_token")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    metric: TopMetric
    limit: int
    page_size: int
    page_token: str
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metric: _Optional[_Union[TopMetric, str]] = ..., limit: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class TopContentEntry(_message.Message):
    __slots__ = ("content_id", "title", "stats")
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    title: str
    stats: StatsPoint
    def __init__(self, content_id: _Optional[str] = ..., title: _Optional[str] = ..., stats: _Optional[_Union[StatsPoint, _Mapping]] = ...) -> None: ...

class TopContentResponse(_message.Message):
    __slots__ = ("currency", "entries", "rate_card_version", "next_page_token")
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    RATE_CARD_VERSION_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    currency: str
    entries: _containers.RepeatedCompositeFieldContainer[TopContentEntry]
    rate_card_version: int
    next_page_token: str
    def __init__(self, currency: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[TopContentEntry, _Mapping]]] = ..., rate_card_version: _Optional[int] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetProgramOverviewRequest(_message.Message):
    __slots__ = ("start", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ProgramOverview(_message.Message):
    __slots__ = ("currency", "adoption", "active_advocates", "enrolled_advocates", "amplification_ratio", "employee_potential_reach", "company_channel_audience", "leader_participation", "active_leaders", "enrolled_leaders", "leader_potential_reach", "non_leader_potential_reach", "leader_engagements", "non_leader_engagements", "totals", "rate_card_version", "company_items", "own_posts", "own_post_reach_share")
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    ADOPTION_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_ADVOCATES_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_ADVOCATES_FIELD_NUMBER: _ClassVar[int]
    AMPLIFICATION_RATIO_FIELD_NUMBER: _ClassVar[int]
    EMPLOYEE_POTENTIAL_REACH_FIELD_NUMBER: _ClassVar[int]
    COMPANY_CHANNEL_AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    LEADER_PARTICIPATION_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_LEADERS_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_LEADERS_FIELD_NUMBER: _ClassVar[int]
    LEADER_POTENTIAL_REACH_FIELD_NUMBER: _ClassVar[int]
    NON_LEADER_POTENTIAL_REACH_FIELD_NUMBER: _ClassVar[int]
    LEADER_ENGAGEMENTS_FIELD_NUMBER: _ClassVar[int]
    NON_LEADER_ENGAGEMENTS_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    RATE_CARD_VERSION_FIELD_NUMBER: _ClassVar[int]
    COMPANY_ITEMS_FIELD_NUMBER: _ClassVar[int]
    OWN_POSTS_FIELD_NUMBER: _ClassVar[int]
    OWN_POST_REACH_SHARE_FIELD_NUMBER: _ClassVar[int]
    currency: str
    adoption: float
    active_advocates: int
    enrolled_advocates: int
    amplification_ratio: float
    employee_potential_reach: int
    company_channel_audience: int
    leader_participation: float
    active_leaders: int
    enrolled_leaders: int
    leader_potential_reach: int
    non_leader_potential_reach: int
    leader_engagements: int
    non_leader_engagements: int
    totals: StatsPoint
    rate_card_version: int
    company_items: StatsPoint
    own_posts: StatsPoint
    own_post_reach_share: float
    def __init__(self, currency: _Optional[str] = ..., adoption: _Optional[float] = ..., active_advocates: _Optional[int] = ..., enrolled_advocates: _Optional[int] = ..., amplification_ratio: _Optional[float] = ..., employee_potential_reach: _Optional[int] = ..., company_channel_audience: _Optional[int] = ..., leader_participation: _Optional[float] = ..., active_leaders: _Optional[int] = ..., enrolled_leaders: _Optional[int] = ..., leader_potential_reach: _Optional[int] = ..., non_leader_potential_reach: _Optional[int] = ..., leader_engagements: _Optional[int] = ..., non_leader_engagements: _Optional[int] = ..., totals: _Optional[_Union[StatsPoint, _Mapping]] = ..., rate_card_version: _Optional[int] = ..., company_items: _Optional[_Union[StatsPoint, _Mapping]] = ..., own_posts: _Optional[_Union[StatsPoint, _Mapping]] = ..., own_post_reach_share: _Optional[float] = ...) -> None: ...

class ListCommentsRequest(_message.Message):
    __slots__ = ("content_id", "requester_id", "limit", "page_size", "page_token")
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    requester_id: str
    limit: int
    page_size: int
    page_token: str
    def __init__(self, content_id: _Optional[str] = ..., requester_id: _Optional[str] = ..., limit: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class CustomerComment(_message.Message):
    __slots__ = ("event_id", "share_id", "advocate_id", "network", "text", "occurred_at")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    SHARE_ID_FIELD_NUMBER: _ClassVar[int]
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    share_id: str
    advocate_id: str
    network: str
    text: str
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, event_id: _Optional[str] = ..., share_id: _Optional[str] = ..., advocate_id: _Optional[str] = ..., network: _Optional[str] = ..., text: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListCommentsResponse(_message.Message):
    __slots__ = ("comments", "next_page_token")
    COMMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    comments: _containers.RepeatedCompositeFieldContainer[CustomerComment]
    next_page_token: str
    def __init__(self, comments: _Optional[_Iterable[_Union[CustomerComment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CsvExport(_message.Message):
    __slots__ = ("filename", "csv", "currency", "rate_card_version", "next_page_token", "total_windows")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CSV_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    RATE_CARD_VERSION_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_WINDOWS_FIELD_NUMBER: _ClassVar[int]
    filename: str
    csv: str
    currency: str
    rate_card_version: int
    next_page_token: str
    total_windows: int
    def __init__(self, filename: _Optional[str] = ..., csv: _Optional[str] = ..., currency: _Optional[str] = ..., rate_card_version: _Optional[int] = ..., next_page_token: _Optional[str] = ..., total_windows: _Optional[int] = ...) -> None: ...

class NetworkRate(_message.Message):
    __slots__ = ("network", "cpm", "cpc", "reaction_multiplier")
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    CPM_FIELD_NUMBER: _ClassVar[int]
    CPC_FIELD_NUMBER: _ClassVar[int]
    REACTION_MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    network: _common_pb2.Network
    cpm: float
    cpc: float
    reaction_multiplier: float
    def __init__(self, network: _Optional[_Union[_common_pb2.Network, str]] = ..., cpm: _Optional[float] = ..., cpc: _Optional[float] = ..., reaction_multiplier: _Optional[float] = ...) -> None: ...

class RateCard(_message.Message):
    __slots__ = ("version", "currency", "rates", "created_at", "created_by")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    RATES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    version: int
    currency: str
    rates: _containers.RepeatedCompositeFieldContainer[NetworkRate]
    created_at: _timestamp_pb2.Timestamp
    created_by: str
    def __init__(self, version: _Optional[int] = ..., currency: _Optional[str] = ..., rates: _Optional[_Iterable[_Union[NetworkRate, _Mapping]]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ...) -> None: ...

class GetRateCardRequest(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class PutRateCardRequest(_message.Message):
    __slots__ = ("rate_card",)
    RATE_CARD_FIELD_NUMBER: _ClassVar[int]
    rate_card: RateCard
    def __init__(self, rate_card: _Optional[_Union[RateCard, _Mapping]] = ...) -> None: ...

class GetProgramHealthRequest(_message.Message):
    __slots__ = ("team", "from_month", "to_month")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    FROM_MONTH_FIELD_NUMBER: _ClassVar[int]
    TO_MONTH_FIELD_NUMBER: _ClassVar[int]
    team: str
    from_month: str
    to_month: str
    def __init__(self, team: _Optional[str] = ..., from_month: _Optional[str] = ..., to_month: _Optional[str] = ...) -> None: ...

class HealthCohort(_message.Message):
    __slots__ = ("month", "enrolled", "shared", "median_days_to_first_share", "p90_days_to_first_share", "retained", "retention")
    MONTH_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_FIELD_NUMBER: _ClassVar[int]
    SHARED_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_DAYS_TO_FIRST_SHARE_FIELD_NUMBER: _ClassVar[int]
    P90_DAYS_TO_FIRST_SHARE_FIELD_NUMBER: _ClassVar[int]
    RETAINED_FIELD_NUMBER: _ClassVar[int]
    RETENTION_FIELD_NUMBER: _ClassVar[int]
    month: str
    enrolled: int
    shared: int
    median_days_to_first_share: int
    p90_days_to_first_share: int
    retained: _containers.RepeatedScalarFieldContainer[int]
    retention: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, month: _Optional[str] = ..., enrolled: _Optional[int] = ..., shared: _Optional[int] = ..., median_days_to_first_share: _Optional[int] = ..., p90_days_to_first_share: _Optional[int] = ..., retained: _Optional[_Iterable[int]] = ..., retention: _Optional[_Iterable[float]] = ...) -> None: ...

class HealthActivity(_message.Message):
    __slots__ = ("month", "shares", "active_advocates", "advocates_per_bucket", "top_decile_share", "leader_shares", "active_leaders", "leader_share_of_shares", "leader_share_of_active")
    MONTH_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_ADVOCATES_FIELD_NUMBER: _ClassVar[int]
    ADVOCATES_PER_BUCKET_FIELD_NUMBER: _ClassVar[int]
    TOP_DECILE_SHARE_FIELD_NUMBER: _ClassVar[int]
    LEADER_SHARES_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_LEADERS_FIELD_NUMBER: _ClassVar[int]
    LEADER_SHARE_OF_SHARES_FIELD_NUMBER: _ClassVar[int]
    LEADER_SHARE_OF_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    month: str
    shares: int
    active_advocates: int
    advocates_per_bucket: _containers.RepeatedScalarFieldContainer[int]
    top_decile_share: float
    leader_shares: int
    active_leaders: int
    leader_share_of_shares: float
    leader_share_of_active: float
    def __init__(self, month: _Optional[str] = ..., shares: _Optional[int] = ..., active_advocates: _Optional[int] = ..., advocates_per_bucket: _Optional[_Iterable[int]] = ..., top_decile_share: _Optional[float] = ..., leader_shares: _Optional[int] = ..., active_leaders: _Optional[int] = ..., leader_share_of_shares: _Optional[float] = ..., leader_share_of_active: _Optional[float] = ...) -> None: ...

class ProgramHealth(_message.Message):
    __slots__ = ("team", "from_month", "to_month", "cohorts", "activity", "bucket_labels")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    FROM_MONTH_FIELD_NUMBER: _ClassVar[int]
    TO_MONTH_FIELD_NUMBER: _ClassVar[int]
    COHORTS_FIELD_NUMBER: _ClassVar[int]
    ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    BUCKET_LABELS_FIELD_NUMBER: _ClassVar[int]
    team: str
    from_month: str
    to_month: str
    cohorts: _containers.RepeatedCompositeFieldContainer[HealthCohort]
    activity: _containers.RepeatedCompositeFieldContainer[HealthActivity]
    bucket_labels: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, team: _Optional[str] = ..., from_month: _Optional[str] = ..., to_month: _Optional[str] = ..., cohorts: _Optional[_Iterable[_Union[HealthCohort, _Mapping]]] = ..., activity: _Optional[_Iterable[_Union[HealthActivity, _Mapping]]] = ..., bucket_labels: _Optional[_Iterable[str]] = ...) -> None: ...

class GetTrainingStatsRequest(_message.Message):
    __slots__ = ("team",)
    TEAM_FIELD_NUMBER: _ClassVar[int]
    team: str
    def __init__(self, team: _Optional[str] = ...) -> None: ...

class LessonStats(_message.Message):
    __slots__ = ("lesson_id", "lesson_title", "team", "completions", "completers_enrolled", "enrolled", "completion_rate")
    LESSON_ID_FIELD_NUMBER: _ClassVar[int]
    LESSON_TITLE_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    COMPLETIONS_FIELD_NUMBER: _ClassVar[int]
    COMPLETERS_ENROLLED_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_RATE_FIELD_NUMBER: _ClassVar[int]
    lesson_id: str
    lesson_title: str
    team: str
    completions: int
    completers_enrolled: int
    enrolled: int
    completion_rate: float
    def __init__(self, lesson_id: _Optional[str] = ..., lesson_title: _Optional[str] = ..., team: _Optional[str] = ..., completions: _Optional[int] = ..., completers_enrolled: _Optional[int] = ..., enrolled: _Optional[int] = ..., completion_rate: _Optional[float] = ...) -> None: ...

class TrainingStats(_message.Message):
    __slots__ = ("lessons",)
    LESSONS_FIELD_NUMBER: _ClassVar[int]
    lessons: _containers.RepeatedCompositeFieldContainer[LessonStats]
    def __init__(self, lessons: _Optional[_Iterable[_Union[LessonStats, _Mapping]]] = ...) -> None: ...
