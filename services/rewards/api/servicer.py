"""gRPC RewardsService: balances, history, leaderboards, badges, catalogue, redemption and admin."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol

import grpc
import pymongo
from advocacy.rewards.v1 import rewards_pb2, rewards_pb2_grpc
from grpc_interceptor.exceptions import FailedPrecondition, InvalidArgument, NotFound, Unavailable

from services.common import paging
from services.common.events import from_timestamp, to_timestamp
from services.common.read_cache import ReadCache
from services.common.validation import check_request_id
from services.rewards.adapters.accounts import AccountsUnavailable
from services.rewards.adapters.ledger import LedgerRepository, entry_message
from services.rewards.adapters.store import (
    CampaignRepository,
    CatalogRepository,
    LeaderboardDocuments,
    RuleSetRepository,
)
from services.rewards.app.redemption import (
    InsufficientPoints,
    NotDecided,
    OutOfStock,
    Redemptions,
    UnknownItem,
)
from services.rewards.domain import account, badges, boards, leaderboards
from services.rewards.domain.badges import DEFAULT_BADGES, BadgeRule
from services.rewards.domain.boards import Row
from services.rewards.domain.rules import DEFAULT_RULES, Campaign, RuleSet

MAX_PAGE = 500
DEFAULT_LEDGER_PAGE = 50
DEFAULT_CATALOG_PAGE = 100
LEDGER_CHECK_SECONDS = 120.0  # GetBalance's optional ledger scan
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
BADGE_KINDS = {
    rewards_pb2.BADGE_KIND_SHARES: badges.SHARES,
    rewards_pb2.BADGE_KIND_CLICKS: badges.CLICKS,
    rewards_pb2.BADGE_KIND_STREAK_DAYS: badges.STREAK_DAYS,
    rewards_pb2.BADGE_KIND_MONTHLY_RANK: badges.MONTHLY_RANK,
    rewards_pb2.BADGE_KIND_LEADER_MONTH_SHARES: badges.LEADER_MONTH_SHARES,
}
BADGE_KIND_VALUES = {kind: value for value, kind in BADGE_KINDS.items()}


class AccountReader(Protocol):
    async def get(self, advocate_id: str) -> dict[str, int]: ...


@dataclass
class Repositories:
    ledger: LedgerRepository
    accounts: AccountReader
    boards: LeaderboardDocuments
    catalog: CatalogRepository
    rule_sets: RuleSetRepository
    campaigns: CampaignRepository
    redemptions: Redemptions


async def _account(accounts: AccountReader, advocate_id: str) -> dict[str, int]:
    try:
        return await accounts.get(advocate_id)
    except AccountsUnavailable as exc:
        raise Unavailable(str(exc)) from None


def rules_message(rules: RuleSet) -> rewards_pb2.RuleSet:
    msg = rewards_pb2.RuleSet(version=rules.version, **{f: getattr(rules, f) for f in RULE_FIELDS})
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
        # Off unless given: every read merges the board's documents.
        self._boards = boards or ReadCache[list[Row]](ttl=0)
        # The rule set in force for GetBadges (a short-lived cache in the service; read each time unless given).
        self._rules = rules or self._active_rules

    async def _active_rules(self) -> RuleSet:
        return await self._repos().rule_sets.active() or DEFAULT_RULES

    async def _board(self, board: int, period_key: str, team: str, campaign_id: str) -> list[Row]:
        bid = board_id(board, period_key, team, campaign_id)  # invalid: refused before the cache
        documents = self._repos().boards

        async def merge() -> list[Row]:
            parts = await documents.read(bid)
            if board in (rewards_pb2.BOARD_TEAMS, rewards_pb2.BOARD_TEAMS_PER_ACTIVE_ADVOCATE):
                per_active = board == rewards_pb2.BOARD_TEAMS_PER_ACTIVE_ADVOCATE
                return leaderboards.merge_teams(parts, per_active)[:MAX_PAGE]
            return leaderboards.merge_rows(parts, MAX_PAGE)

        return await self._boards.get((board, bid), merge)

    async def GetBalance(
        self, request: rewards_pb2.GetBalanceRequest, context: grpc.aio.ServicerContext
    ) -> rewards_pb2.Balance:
        advocate_id = check_request_id(request.advocate_id, "advocate_id")
        r = self._repos()
        summary = await _account(r.accounts, advocate_id)
        points = int(summary.get("earned", 0)) - int(summary.get("redeemed", 0))
        if not request.with_ledger_check:
            return rewards_pb2.Balance(advocate_id=advocate_id, points=points)
        # The check reads all the advocate's entries (FerretDB scans the whole ledger for them):
        # a deadline of its own instead of the client's socket timeout.
        with pymongo.timeout(LEDGER_CHECK_SECONDS):
            ledger_points, entries = await r.ledger.balance(advocate_id)
        return rewards_pb2.Balance(advocate_id=advocate_id, points=points, entries=entries, ledger_points=ledger_points)

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
        bounds = boards.period_bounds(PERIODS[request.period], day)
        first, last = bounds if bounds else (None, None)
        key = account.period_key(PERIODS[request.period], day)
        rows = await self._board(request.board, key, request.team, request.campaign_id)
        limit = request.limit or 100
        return rewards_pb2.Leaderboard(
            rows=[
                rewards_pb2.LeaderboardRow(
                    rank=i + 1, key=r.key, points=r.points, active_advocates=r.advocates, score=r.score
                )
                for i, r in enumerate(rows[:limit])
            ],
            first_day=first or "",
            last_day=last or "",
        )

    async def GetBadges(
        self, request: rewards_pb2.GetBadgesRequest, context: grpc.aio.ServicerContext
    ) -> rewards_pb2.Badges:
        advocate_id = check_request_id(request.advocate_id, "advocate_id")
        summary = await _account(self._repos().accounts, advocate_id)
        rules = await self._rules()
        facts = badges.BadgeFacts(
            shares=int(summary.get("shares", 0)),
            clicks=int(summary.get("click_units", 0)),
            longest_run=int(summary.get("best_run", 0)),
            leader=bool(summary.get("leader", 0)),
            max_month_shares=int(summary.get("max_month_shares", 0)),
            monthly_rank=await self._monthly_rank(advocate_id) if badges.needs_rank(rules.badges) else None,
        )
        earned = badges.earned(rules.badges, facts)
        return rewards_pb2.Badges(
            badges=[b.badge_id for b in earned],
            earned=[badge_message(b) for b in earned],
            rule_set_version=rules.version,
        )

    async def _monthly_rank(self, advocate_id: str) -> int | None:
        month = account.period_key(boards.MONTH, datetime.now(UTC).date())
        # The board's first MAX_PAGE rows: a rank threshold is at most badges.MAX_RANK (= MAX_PAGE).
        monthly = await self._board(rewards_pb2.BOARD_GLOBAL, month, "", "")
        return next((i + 1 for i, r in enumerate(monthly) if r.key == advocate_id and r.points > 0), None)

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
        rules = RuleSet(
            version=0,
            share_points_by_network=dict(msg.share_points_by_network),
            badges=badge_rules(msg.badges),
            **{f: int(getattr(msg, f)) for f in RULE_FIELDS},
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


def board_id(board: int, period_key: str, team: str, campaign_id: str) -> str:
    """The board's id (leaderboards.board_id), with only the argument the board uses."""
    if board == rewards_pb2.BOARD_TEAM:
        return leaderboards.board_id(leaderboards.TEAM, check_request_id(team, "team"), period_key)
    if board == rewards_pb2.BOARD_CAMPAIGN:
        return leaderboards.board_id(leaderboards.CAMPAIGN, check_request_id(campaign_id, "campaign_id"), period_key)
    names = {
        rewards_pb2.BOARD_GLOBAL: leaderboards.GLOBAL,
        rewards_pb2.BOARD_LEADERS: leaderboards.LEADERS,
        rewards_pb2.BOARD_TEAMS: leaderboards.TEAMS,
        rewards_pb2.BOARD_TEAMS_PER_ACTIVE_ADVOCATE: leaderboards.TEAMS,
    }
    if board not in names:
        raise InvalidArgument("board: must be GLOBAL, TEAM, LEADERS, CAMPAIGN, TEAMS or TEAMS_PER_ACTIVE_ADVOCATE")
    return leaderboards.board_id(names[board], "", period_key)
