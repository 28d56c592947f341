"""gRPC AnalyticsService: statistics read from the materialized facts in MongoDB."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from advocacy.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from grpc_interceptor.exceptions import InvalidArgument

from services.analytics.adapters.facts import ShareFactRepository


class AnalyticsServicer(analytics_pb2_grpc.AnalyticsServiceServicer):
    def __init__(self, facts: Callable[[], ShareFactRepository]) -> None:
        self._facts = facts

    async def GetContentStats(
        self, request: analytics_pb2.GetContentStatsRequest, context: grpc.aio.ServicerContext
    ) -> analytics_pb2.ContentStats:
        if not request.content_id or len(request.content_id) > 128:
            raise InvalidArgument("content_id: must be 1..128 characters")
        shares, sharers, reach = await self._facts().content_stats(request.content_id)
        return analytics_pb2.ContentStats(
            content_id=request.content_id, shares=shares, distinct_sharers=sharers, potential_reach=reach
        )
