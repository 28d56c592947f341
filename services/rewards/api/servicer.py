"""gRPC RewardsService: balances and history, read from the ledger."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from advocacy.rewards.v1 import rewards_pb2, rewards_pb2_grpc
from advocacy.rewards.v1.rewards_pb2 import LedgerEntry
from grpc_interceptor.exceptions import InvalidArgument

from services.common.events import to_timestamp
from services.rewards.adapters.ledger import LedgerRepository

MAX_PAGE = 500


class RewardsServicer(rewards_pb2_grpc.RewardsServiceServicer):
    def __init__(self, ledger: Callable[[], LedgerRepository]) -> None:
        self._ledger = ledger

    async def GetBalance(
        self, request: rewards_pb2.GetBalanceRequest, context: grpc.aio.ServicerContext
    ) -> rewards_pb2.Balance:
        if not request.advocate_id or len(request.advocate_id) > 128:
            raise InvalidArgument("advocate_id: must be 1..128 characters")
        points, entries = await self._ledger().balance(request.advocate_id)
        return rewards_pb2.Balance(advocate_id=request.advocate_id, points=points, entries=entries)

    async def ListLedger(
        self, request: rewards_pb2.ListLedgerRequest, context: grpc.aio.ServicerContext
    ) -> rewards_pb2.ListLedgerResponse:
        if not request.advocate_id or len(request.advocate_id) > 128:
            raise InvalidArgument("advocate_id: must be 1..128 characters")
        if not 0 <= request.page_size <= MAX_PAGE:
            raise InvalidArgument(f"page_size: must be 0..{MAX_PAGE}")
        docs = await self._ledger().history(request.advocate_id, request.page_size or 50)
        return rewards_pb2.ListLedgerResponse(
            entries=[
                LedgerEntry(
                    entry_id=d["_id"],
                    advocate_id=d["advocate_id"],
                    points=d["points"],
                    rule=d["rule"],
                    rule_set_version=d["rule_set_version"],
                    source_event_id=d["source_event_id"],
                    campaign_id=d["campaign_id"],
                    content_id=d["content_id"],
                    occurred_at=to_timestamp(d["occurred_at"]),
                )
                for d in docs
            ]
        )
