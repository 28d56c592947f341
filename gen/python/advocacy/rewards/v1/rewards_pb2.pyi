import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BadgeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BADGE_KIND_UNSPECIFIED: _ClassVar[BadgeKind]
    BADGE_KIND_SHARES: _ClassVar[BadgeKind]
    BADGE_KIND_CLICKS: _ClassVar[BadgeKind]
    BADGE_KIND_STREAK_DAYS: _ClassVar[BadgeKind]
    BADGE_KIND_MONTHLY_RANK: _ClassVar[BadgeKind]
    BADGE_KIND_LEADER_MONTH_SHARES: _ClassVar[BadgeKind]
    BADGE_KIND_LESSONS_COMPLETED: _ClassVar[BadgeKind]

class Board(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BOARD_UNSPECIFIED: _ClassVar[Board]
    BOARD_GLOBAL: _ClassVar[Board]
    BOARD_TEAM: _ClassVar[Board]
    BOARD_LEADERS: _ClassVar[Board]
    BOARD_CAMPAIGN: _ClassVar[Board]
    BOARD_TEAMS: _ClassVar[Board]
    BOARD_TEAMS_PER_ACTIVE_ADVOCATE: _ClassVar[Board]

class Period(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PERIOD_UNSPECIFIED: _ClassVar[Period]
    PERIOD_WEEK: _ClassVar[Period]
    PERIOD_MONTH: _ClassVar[Period]
    PERIOD_QUARTER: _ClassVar[Period]
    PERIOD_ALL_TIME: _ClassVar[Period]
BADGE_KIND_UNSPECIFIED: BadgeKind
BADGE_KIND_SHARES: BadgeKind
BADGE_KIND_CLICKS: BadgeKind
BADGE_KIND_STREAK_DAYS: BadgeKind
BADGE_KIND_MONTHLY_RANK: BadgeKind
BADGE_KIND_LEADER_MONTH_SHARES: BadgeKind
BADGE_KIND_LESSONS_COMPLETED: BadgeKind
BOARD_UNSPECIFIED: Board
BOARD_GLOBAL: Board
BOARD_TEAM: Board
BOARD_LEADERS: Board
BOARD_CAMPAIGN: Board
BOARD_TEAMS: Board
BOARD_TEAMS_PER_ACTIVE_ADVOCATE: Board
PERIOD_UNSPECIFIED: Period
PERIOD_WEEK: Period
PERIOD_MONTH: Period
PERIOD_QUARTER: Period
PERIOD_ALL_TIME: Period

class LedgerEntry(_message.Message):
    __slots__ = ("entry_id", "advocate_id", "points", "rule", "rule_set_version", "source_event_id", "campaign_id", "occurred_at", "content_id", "capped_points", "team", "leader", "local_day", "units")
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    RULE_SET_VERSION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    CAPPED_POINTS_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    LOCAL_DAY_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    entry_id: str
    advocate_id: str
    points: int
    rule: str
    rule_set_version: int
    source_event_id: str
    campaign_id: str
    occurred_at: _timestamp_pb2.Timestamp
    content_id: str
    capped_points: int
    team: str
    leader: bool
    local_day: str
    units: int
    def __init__(self, entry_id: _Optional[str] = ..., advocate_id: _Optional[str] = ..., points: _Optional[int] = ..., rule: _Optional[str] = ..., rule_set_version: _Optional[int] = ..., source_event_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., content_id: _Optional[str] = ..., capped_points: _Optional[int] = ..., team: _Optional[str] = ..., leader: _Optional[bool] = ..., local_day: _Optional[str] = ..., units: _Optional[int] = ...) -> None: ...

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
    __slots__ = ("advocate_id", "with_ledger_check")
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    WITH_LEDGER_CHECK_FIELD_NUMBER: _ClassVar[int]
    advocate_id: str
    with_ledger_check: bool
    def __init__(self, advocate_id: _Optional[str] = ..., with_ledger_check: _Optional[bool] = ...) -> None: ...

class Balance(_message.Message):
    __slots__ = ("advocate_id", "points", "entries", "ledger_points")
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    LEDGER_POINTS_FIELD_NUMBER: _ClassVar[int]
    advocate_id: str
    points: int
    entries: int
    ledger_points: int
    def __init__(self, advocate_id: _Optional[str] = ..., points: _Optional[int] = ..., entries: _Optional[int] = ..., ledger_points: _Optional[int] = ...) -> None: ...

class ListLedgerRequest(_message.Message):
    __slots__ = ("advocate_id", "page_size", "page_token")
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    advocate_id: str
    page_size: int
    page_token: str
    def __init__(self, advocate_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListLedgerResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[LedgerEntry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[LedgerEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RuleSet(_message.Message):
    __slots__ = ("version", "share_points_by_network", "share_points_default", "first_share_bonus", "personal_wording_bonus", "early_sharer_bonus", "early_sharer_limit", "early_sharer_window_hours", "click_points", "click_dedup_minutes", "reaction_points", "comment_points", "reshare_points", "streak_days", "streak_bonus", "duplicate_window_hours", "daily_cap", "badges", "lesson_points", "own_post_points")
    class SharePointsByNetworkEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SHARE_POINTS_BY_NETWORK_FIELD_NUMBER: _ClassVar[int]
    SHARE_POINTS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    FIRST_SHARE_BONUS_FIELD_NUMBER: _ClassVar[int]
    PERSONAL_WORDING_BONUS_FIELD_NUMBER: _ClassVar[int]
    EARLY_SHARER_BONUS_FIELD_NUMBER: _ClassVar[int]
    EARLY_SHARER_LIMIT_FIELD_NUMBER: _ClassVar[int]
    EARLY_SHARER_WINDOW_HOURS_FIELD_NUMBER: _ClassVar[int]
    CLICK_POINTS_FIELD_NUMBER: _ClassVar[int]
    CLICK_DEDUP_MINUTES_FIELD_NUMBER: _ClassVar[int]
    REACTION_POINTS_FIELD_NUMBER: _ClassVar[int]
    COMMENT_POINTS_FIELD_NUMBER: _ClassVar[int]
    RESHARE_POINTS_FIELD_NUMBER: _ClassVar[int]
    STREAK_DAYS_FIELD_NUMBER: _ClassVar[int]
    STREAK_BONUS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_WINDOW_HOURS_FIELD_NUMBER: _ClassVar[int]
    DAILY_CAP_FIELD_NUMBER: _ClassVar[int]
    BADGES_FIELD_NUMBER: _ClassVar[int]
    LESSON_POINTS_FIELD_NUMBER: _ClassVar[int]
    OWN_POST_POINTS_FIELD_NUMBER: _ClassVar[int]
    version: int
    share_points_by_network: _containers.ScalarMap[str, int]
    share_points_default: int
    first_share_bonus: int
    personal_wording_bonus: int
    early_sharer_bonus: int
    early_sharer_limit: int
    early_sharer_window_hours: int
    click_points: int
    click_dedup_minutes: int
    reaction_points: int
    comment_points: int
    reshare_points: int
    streak_days: int
    streak_bonus: int
    duplicate_window_hours: int
    daily_cap: int
    badges: _containers.RepeatedCompositeFieldContainer[BadgeRule]
    lesson_points: int
    own_post_points: int
    def __init__(self, version: _Optional[int] = ..., share_points_by_network: _Optional[_Mapping[str, int]] = ..., share_points_default: _Optional[int] = ..., first_share_bonus: _Optional[int] = ..., personal_wording_bonus: _Optional[int] = ..., early_sharer_bonus: _Optional[int] = ..., early_sharer_limit: _Optional[int] = ..., early_sharer_window_hours: _Optional[int] = ..., click_points: _Optional[int] = ..., click_dedup_minutes: _Optional[int] = ..., reaction_points: _Optional[int] = ..., comment_points: _Optional[int] = ..., reshare_points: _Optional[int] = ..., streak_days: _Optional[int] = ..., streak_bonus: _Optional[int] = ..., duplicate_window_hours: _Optional[int] = ..., daily_cap: _Optional[int] = ..., badges: _Optional[_Iterable[_Union[BadgeRule, _Mapping]]] = ..., lesson_points: _Optional[int] = ..., own_post_points: _Optional[int] = ...) -> None: ...

class BadgeRule(_message.Message):
    __slots__ = ("badge_id", "name", "description", "kind", "threshold")
    BADGE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    badge_id: str
    name: str
    description: str
    kind: BadgeKind
    threshold: int
    def __init__(self, badge_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., kind: _Optional[_Union[BadgeKind, str]] = ..., threshold: _Optional[int] = ...) -> None: ...

class GetRuleSetRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PutRuleSetRequest(_message.Message):
    __slots__ = ("rules",)
    RULES_FIELD_NUMBER: _ClassVar[int]
    rules: RuleSet
    def __init__(self, rules: _Optional[_Union[RuleSet, _Mapping]] = ...) -> None: ...

class Campaign(_message.Message):
    __slots__ = ("campaign_id", "starts_at", "ends_at", "multiplier")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    STARTS_AT_FIELD_NUMBER: _ClassVar[int]
    ENDS_AT_FIELD_NUMBER: _ClassVar[int]
    MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    starts_at: _timestamp_pb2.Timestamp
    ends_at: _timestamp_pb2.Timestamp
    multiplier: float
    def __init__(self, campaign_id: _Optional[str] = ..., starts_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ends_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., multiplier: _Optional[float] = ...) -> None: ...

class UpsertCampaignRequest(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: Campaign
    def __init__(self, campaign: _Optional[_Union[Campaign, _Mapping]] = ...) -> None: ...

class GetLeaderboardRequest(_message.Message):
    __slots__ = ("board", "period", "day", "team", "campaign_id", "limit")
    BOARD_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    board: Board
    period: Period
    day: str
    team: str
    campaign_id: str
    limit: int
    def __init__(self, board: _Optional[_Union[Board, str]] = ..., period: _Optional[_Union[Period, str]] = ..., day: _Optional[str] = ..., team: _Optional[str] = ..., campaign_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class LeaderboardRow(_message.Message):
    __slots__ = ("rank", "key", "points", "active_advocates", "score")
    RANK_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_ADVOCATES_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    rank: int
    key: str
    points: int
    active_advocates: int
    score: float
    def __init__(self, rank: _Optional[int] = ..., key: _Optional[str] = ..., points: _Optional[int] = ..., active_advocates: _Optional[int] = ..., score: _Optional[float] = ...) -> None: ...

class Leaderboard(_message.Message):
    __slots__ = ("rows", "first_day", "last_day")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    FIRST_DAY_FIELD_NUMBER: _ClassVar[int]
    LAST_DAY_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[LeaderboardRow]
    first_day: str
    last_day: str
    def __init__(self, rows: _Optional[_Iterable[_Union[LeaderboardRow, _Mapping]]] = ..., first_day: _Optional[str] = ..., last_day: _Optional[str] = ...) -> None: ...

class GetBadgesRequest(_message.Message):
    __slots__ = ("advocate_id",)
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    advocate_id: str
    def __init__(self, advocate_id: _Optional[str] = ...) -> None: ...

class Badges(_message.Message):
    __slots__ = ("badges", "earned", "rule_set_version")
    BADGES_FIELD_NUMBER: _ClassVar[int]
    EARNED_FIELD_NUMBER: _ClassVar[int]
    RULE_SET_VERSION_FIELD_NUMBER: _ClassVar[int]
    badges: _containers.RepeatedScalarFieldContainer[str]
    earned: _containers.RepeatedCompositeFieldContainer[BadgeRule]
    rule_set_version: int
    def __init__(self, badges: _Optional[_Iterable[str]] = ..., earned: _Optional[_Iterable[_Union[BadgeRule, _Mapping]]] = ..., rule_set_version: _Optional[int] = ...) -> None: ...

class CatalogItem(_message.Message):
    __slots__ = ("item_id", "name", "cost", "stock")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    STOCK_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    name: str
    cost: int
    stock: int
    def __init__(self, item_id: _Optional[str] = ..., name: _Optional[str] = ..., cost: _Optional[int] = ..., stock: _Optional[int] = ...) -> None: ...

class UpsertCatalogItemRequest(_message.Message):
    __slots__ = ("item",)
    ITEM_FIELD_NUMBER: _ClassVar[int]
    item: CatalogItem
    def __init__(self, item: _Optional[_Union[CatalogItem, _Mapping]] = ...) -> None: ...

class ListCatalogRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCatalogResponse(_message.Message):
    __slots__ = ("items", "next_page_token")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[CatalogItem]
    next_page_token: str
    def __init__(self, items: _Optional[_Iterable[_Union[CatalogItem, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RedeemRequest(_message.Message):
    __slots__ = ("advocate_id", "item_id", "idempotency_key")
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    advocate_id: str
    item_id: str
    idempotency_key: str
    def __init__(self, advocate_id: _Optional[str] = ..., item_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class RedeemResponse(_message.Message):
    __slots__ = ("entry", "balance", "created")
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    entry: LedgerEntry
    balance: int
    created: bool
    def __init__(self, entry: _Optional[_Union[LedgerEntry, _Mapping]] = ..., balance: _Optional[int] = ..., created: _Optional[bool] = ...) -> None: ...
