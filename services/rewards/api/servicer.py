"""gRPC RewardsService: balances, history, leaderboards, badges, catalogue, redemption and admin."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime

import grpc
from advocacy.rewards.v1 import rewards_pb2, rewards_pb2_grpc
from grpc_interceptor.exceptions import FailedPrecondition, InvalidArgument, NotFound, Unavailable

from services.common import paging
from services.common.events import from_timestamp, to_timestamp
from services.common.read_cache import ReadCache
from services.common.validation import check_request_id
from services.rewards.adapters.ledger import LedgerRepository, entry_message
from services.rewards.adapters.store import (
    CampaignRepository,
    CatalogRepository,
    LeaderboardDocuments,
    RuleSetRepository,
)
from services.rewards.app.accounts import AccountQueries
from services.rewards.app.leaderboards import BoardQuery, Leaderboards
from services.rewards.app.ports import AccountReader, AccountsUnavailable
from services.rewards.app.redemption import (
    InsufficientPoints,
    NotDecided,
    OutOfStock,
    Redemptions,
    UnknownItem,
)
from services.rewards.domain import badges, boards, leaderboards
from services.rewards.domain.badges import DEFAULT_BADGES, BadgeRule
from services.rewards.domain.boards import Row
from services.rewards.domain.rules import DEFAULT_RULES, Campaign, RuleSet

MAX_PAGE = 500
DEFAULT_LEDGER_PAGE = 50
DEFAULT_CATALOG_PAGE = 100
MAX_NAME = 200
# Costs and stock: bounded so sums stay far inside int64.
MAX_AMOUNT = 1_000_000_000
PERIODS = {
    rewards_pb2.PERIOD_WEEK: boards.WEEK,
    rewards_pb2.PERIOD_MONTH: boards.MONTH,
    rewards_pb2.PERIOD_QUARTER: boards.QUARTER,
    rewards_pb2.PERIOD_ALL_TIME: boards.ALL_TIME,
}
RULE_FIELDS = [f for f in RuleSet.__dataclass_fields__ if f not in ("version", "share_points_by_network", "badges")]
# Fields added later, with presence: absent in PutRuleSet means the default, not 0.
OPTIONAL_RULE_FIELDS = ("lesson_points", "own_post_points")
BADGE_KINDS = {
    rewards_pb2.BADGE_KIND_SHARES: badges.SHARES,
    rewards_pb2.BADGE_KIND_CLICKS: badges.CLICKS,
    rewards_pb2.BADGE_KIND_STREAK_DAYS: badges.STREAK_DAYS,
    rewards_pb2.BADGE_KIND_MONTHLY_RANK: badges.MONTHLY_RANK,
    rewards_pb2.BADGE_KIND_LEADER_MONTH_SHARES: badges.LEADER_MONTH_SHARES,
    rewards_pb2.BADGE_KIND_LESSONS_COMPLETED: badges.LESSONS_COMPLETED,
}
BADGE_KIND_VALUES = {kind: value for value, kind in BADGE_KINDS.items()}


@dataclass
class Repositories:
    ledger: LedgerRepository
    accounts: AccountReader
    boards: LeaderboardDocuments
    catalog: CatalogRepository
    rule_sets: RuleSetRepository
    campaigns: CampaignRepository
    redemptions: Redemptions


@contextmanager
def _account_view() -> Iterator[None]:
    try:
        yield
    except AccountsUnavailable as exc:
        raise Unavailable(str(exc)) from None


def rules_message(rules: RuleSet) -> rewards_pb2.RuleSet:
    # own_post_points unset = "as a share": absent from the message too.
    values = {f: getattr(rules, f) for f in RULE_FIELDS if getattr(rules, f) is not None}
    msg = rewards_pb2.RuleSet(version=rules.version, **values)
    msg.share_points_by_network.update(rules.share_points_by_network)
    msg.badges.extend(badge_message(b) for b in rules.badges)
    return msg


def badge_message(rule: BadgeRule) -> rewards_pb2.BadgeRule:
    return rewards_pb2.BadgeRule(
        badge_id=rule.badge_id,
        name=rule.name,
        description=rule.description,
        kind=BADGE_KIND_VALUES[rule.kind],
        threshold=rule.threshold,
    )


def badge_rules(msgs: Sequence[rewards_pb2.BadgeRule]) -> tuple[BadgeRule, ...]:
    """The badges of a PutRuleSet; none given means the default badges (what a client that does
    not know the field would otherwise silently remove)."""
    if not msgs:
        return DEFAULT_BADGES
    out = []
    for i, m in enumerate(msgs):
        if m.kind not in BADGE_KINDS:
            kinds = ", ".join(rewards_pb2.BadgeKind.Name(v) for v in BADGE_KINDS)
            raise InvalidArgument(f"rules.badges[{i}].kind: must be one of {kinds}")
        out.append(BadgeRule(m.badge_id, m.name, BADGE_KINDS[m.kind], int(m.threshold), m.description))
    return tuple(out)


class RewardsServicer(rewards_pb2_grpc.RewardsServiceServicer):
    def __init__(
        self,
        repos: Callable[[], Repositories],
        boards: ReadCache[list[Row]] | None = None,
        rules: Callable[[], Awaitable[RuleSet]] | None = None,
    ) -> None:
        self._repos = repos
        r = repos()  # (the composition root fills the repositories before it builds the servicer)
        self._leaderboards = Leaderboards(r.boards, boards)
        # The rule set in force for GetBadges (a short-lived cache in the service; read each time unless given).
        self._accounts = AccountQueries(r.accounts, r.ledger, rules or self._active_rules, self._leaderboards)

    async def _active_rules(self) -> RuleSet:
        return await self._repos().rule_sets.active() or DEFAULT_RULES

    async def GetBalance(
        self, request: rewards_pb2.GetBalanceRequest, context: grpc.aio.ServicerContext
    ) -> rewards_pb2.Balance:
        advocate_id = check_request_id(request.advocate_id, "advocate_id")
        with _account_view():
            balance = await self._accounts.balance(advocate_id, request.with_ledger_check)
        if balance.ledger is None:
            return rewards_pb2.Balance(advocate_id=advocate_id, points=balance.points)
        ledger_points, entries = balance.ledger
        return rewards_pb2.Balance(
            advocate_id=advocate_id, points=balance.points, entries=entries, ledger_points=ledger_points
        )

    async def ListLedger(
        self, request: rewards_pb2.ListLedgerRequest, context: grpc.aio.ServicerContext
    ) -> rewards_pb2.ListLedgerResponse:
        advocate_id = check_request_id(request.advocate_id, "advocate_id")
        size = paging.page_size(request.page_size, DEFAULT_LEDGER_PAGE, MAX_PAGE)
        after = None
        if request.page_token:
            at, entry = paging.decode_token(request.page_token, (datetime, str), scope=advocate_id)
            after = (at, entry)
        docs = await self._repos().ledger.history(advocate_id, size + 1, after)
        page, token = paging.trim(docs, size, lambda d: (d["occurred_at"], d["_id"]), scope=advocate_id)
        return rewards_pb2.ListLedgerResponse(entries=[entry_message(d) for d in page], next_page_token=token)

    async def GetLeaderboard(
        self, request: rewards_pb2.GetLeaderboardRequest, context: grpc.aio.ServicerContext
    ) -> rewards_pb2.Leaderboard:
        if request.period not in PERIODS:
            raise InvalidArgument("period: must be WEEK, MONTH, QUARTER or ALL_TIME")
        for value, field in ((request.team, "team"), (request.campaign_id, "campaign_id"), (request.day, "day")):
            check_request_id(value, field, optional=True)
        if not 0 <= request.limit <= MAX_PAGE:
            raise InvalidArgument(f"limit: must be 0..{MAX_PAGE}")
        try:
            day = date.fromisoformat(request.day) if request.day else datetime.now(UTC).date()
        except ValueError:
            raise InvalidArgument("day: must be YYYY-MM-DD") from None
        board = await self._leaderboards.board(board_query(request, day))
        limit = request.limit or 100
        return rewards_pb2.Leaderboard(
            rows=[
                rewards_pb2.LeaderboardRow(
                    rank=i + 1, key=r.key, points=r.points, active_advocates=r.advocates, score=r.score
                )
                for i, r in enumerate(board.rows[:limit])
            ],
            first_day=board.first_day,
            last_day=board.last_day,
        )

    async def GetBadges(
        self, request: rewards_pb2.GetBadgesRequest, context: grpc.aio.ServicerContext
    ) -> rewards_pb2.Badges:
        advocate_id = check_request_id(request.advocate_id, "advocate_id")
        with _account_view():
            got = await self._accounts.badges(advocate_id)
        return rewards_pb2.Badges(
            badges=[b.badge_id for b in got.earned],
            earned=[badge_message(b) for b in got.earned],
            rule_set_version=got.rule_set_version,
        )

    async def ListCatalog(
        self, request: rewards_pb2.ListCatalogRequest, context: grpc.aio.ServicerContext
    ) -> rewards_pb2.ListCatalogResponse:
        size = paging.page_size(request.page_size, DEFAULT_CATALOG_PAGE, MAX_PAGE)
        after = paging.decode_token(request.page_token, (str,))[0] if request.page_token else ""
        items, token = paging.trim(await self._repos().catalog.list(size + 1, after), size, lambda d: [d["_id"]])
        return rewards_pb2.ListCatalogResponse(items=[_item(d) for d in items], next_page_token=token)

    async def UpsertCatalogItem(
        self, request: rewards_pb2.UpsertCatalogItemRequest, context: grpc.aio.ServicerContext
    ) -> rewards_pb2.CatalogItem:
        item = request.item
        check_request_id(item.item_id, "item.item_id")
        if not item.name.strip() or len(item.name) > MAX_NAME:
            raise InvalidArgument(f"item.name: must be 1..{MAX_NAME} characters")
        if not 0 < item.cost <= MAX_AMOUNT:
            raise InvalidArgument(f"item.cost: must be 1..{MAX_AMOUNT}")
        if not 0 <= item.stock <= MAX_AMOUNT:
            raise InvalidArgument(f"item.stock: must be 0..{MAX_AMOUNT}")
        return _item(await self._repos().catalog.upsert(item.item_id, item.name, item.cost, item.stock))

    async def Redeem(
        self, request: rewards_pb2.RedeemRequest, context: grpc.aio.ServicerContext
    ) -> rewards_pb2.RedeemResponse:
        advocate_id = check_request_id(request.advocate_id, "advocate_id")
        item_id = check_request_id(request.item_id, "item_id")
        key = check_request_id(request.idempotency_key, "idempotency_key")
        try:
            out = await self._repos().redemptions.redeem(advocate_id, item_id, key)
        except UnknownItem:
            raise NotFound(f"item_id: no catalogue item {item_id!r}") from None
        except OutOfStock:
            raise FailedPrecondition(f"item_id: {item_id!r} is out of stock") from None
        except InsufficientPoints:
            raise FailedPrecondition("advocate_id: balance does not cover the item's cost") from None
        except NotDecided:
            raise Unavailable("the redemption is not decided yet; retry with the same idempotency_key") from None
        return rewards_pb2.RedeemResponse(entry=entry_message(out.entry), balance=out.balance, created=out.created)

    async def GetRuleSet(
        self, request: rewards_pb2.GetRuleSetRequest, context: grpc.aio.ServicerContext
    ) -> rewards_pb2.RuleSet:
        return rules_message(await self._repos().rule_sets.active() or DEFAULT_RULES)

    async def PutRuleSet(
        self, request: rewards_pb2.PutRuleSetRequest, context: grpc.aio.ServicerContext
    ) -> rewards_pb2.RuleSet:
        msg = request.rules
        values = {f: int(getattr(msg, f)) for f in RULE_FIELDS}
        for f in OPTIONAL_RULE_FIELDS:
            if not msg.HasField(f):  # a client that does not know the field keeps the default
                values[f] = getattr(DEFAULT_RULES, f)
        rules = RuleSet(
            version=0,
            share_points_by_network=dict(msg.share_points_by_network),
            badges=badge_rules(msg.badges),
            **values,
        )
        try:
            rules.validate()
        except ValueError as exc:
            raise InvalidArgument(f"rules.{exc}") from None
        return rules_message(await self._repos().rule_sets.put(rules))

    async def UpsertCampaign(
        self, request: rewards_pb2.UpsertCampaignRequest, context: grpc.aio.ServicerContext
    ) -> rewards_pb2.Campaign:
        c = request.campaign
        check_request_id(c.campaign_id, "campaign.campaign_id")
        if not c.HasField("starts_at") or not c.HasField("ends_at"):
            raise InvalidArgument("campaign.starts_at: starts_at and ends_at are required")
        starts, ends = from_timestamp(c.starts_at), from_timestamp(c.ends_at)
        if ends <= starts:
            raise InvalidArgument("campaign.ends_at: must be after starts_at")
        if not 0 < c.multiplier <= 100:
            raise InvalidArgument("campaign.multiplier: must be in (0, 100]")
        await self._repos().campaigns.upsert(Campaign(c.campaign_id, starts, ends, c.multiplier))
        return rewards_pb2.Campaign(
            campaign_id=c.campaign_id,
            starts_at=to_timestamp(starts),
            ends_at=to_timestamp(ends),
            multiplier=c.multiplier,
        )


def _item(d: dict) -> rewards_pb2.CatalogItem:
    return rewards_pb2.CatalogItem(item_id=d["_id"], name=d["name"], cost=int(d["cost"]), stock=int(d["stock"]))


def board_query(request: rewards_pb2.GetLeaderboardRequest, day: date) -> BoardQuery:
    """The board asked for, with only the argument the board uses."""
    period = PERIODS[request.period]
    if request.board == rewards_pb2.BOARD_TEAM:
        return BoardQuery(leaderboards.TEAM, check_request_id(request.team, "team"), period, day)
    if request.board == rewards_pb2.BOARD_CAMPAIGN:
        return BoardQuery(leaderboards.CAMPAIGN, check_request_id(request.campaign_id, "campaign_id"), period, day)
    names = {
        rewards_pb2.BOARD_GLOBAL: leaderboards.GLOBAL,
        rewards_pb2.BOARD_LEADERS: leaderboards.LEADERS,
        rewards_pb2.BOARD_TEAMS: leaderboards.TEAMS,
        rewards_pb2.BOARD_TEAMS_PER_ACTIVE_ADVOCATE: leaderboards.TEAMS,
    }
    if request.board not in names:
        raise InvalidArgument("board: must be GLOBAL, TEAM, LEADERS, CAMPAIGN, TEAMS or TEAMS_PER_ACTIVE_ADVOCATE")
    per_active = request.board == rewards_pb2.BOARD_TEAMS_PER_ACTIVE_ADVOCATE
    return BoardQuery(names[request.board], "", period, day, per_active)
