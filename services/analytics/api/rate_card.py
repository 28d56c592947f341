"""GetRateCard / PutRateCard (admin only, services/common/policy.py): translation to and from the
rate card use cases; part of AnalyticsServicer."""

from __future__ import annotations

import grpc
from advocacy.analytics.v1 import analytics_pb2 as pb
from advocacy.common.v1.common_pb2 import Network
from grpc_interceptor.exceptions import InvalidArgument, NotFound

from services.analytics.app.rate_cards import RateCards
from services.analytics.domain.metrics import RateCard
from services.analytics.domain.rate_card import InvalidRateCard, VersionedRateCard
from services.common.auth import current_caller
from services.common.events import to_timestamp


def rate_card_pb(card: VersionedRateCard) -> pb.RateCard:
    out = pb.RateCard(
        version=card.version,
        currency=card.currency,
        rates=[
            pb.NetworkRate(
                network=Network.Value("NETWORK_" + network),
                cpm=rate.cpm,
                cpc=rate.cpc,
                reaction_multiplier=rate.reaction_multiplier,
            )
            for network, rate in sorted(card.rates.items(), key=lambda nr: Network.Value("NETWORK_" + nr[0]))
        ],
        created_by=card.created_by,
    )
    if card.created_at is not None:
        out.created_at.CopyFrom(to_timestamp(card.created_at))
    return out


def _network(value: int) -> str:
    """A Network value by name without prefix (validation refuses UNSPECIFIED); an unknown value
    keeps its number, which validation names as an unknown network."""
    if value in Network.values():
        return str(Network.Name(value)).removeprefix("NETWORK_")
    return str(value)


class RateCardApi:
    _rate_cards: RateCards

    async def GetRateCard(self, request: pb.GetRateCardRequest, context: grpc.aio.ServicerContext) -> pb.RateCard:
        if request.version < 0:
            raise InvalidArgument("version: must be >= 0 (0 = the version in force)")
        if request.version == 0:
            return rate_card_pb(await self._rate_cards.newest())
        card = await self._rate_cards.version(request.version)
        if card is None:
            raise NotFound(f"version: no rate card version {request.version}")
        return rate_card_pb(card)

    async def PutRateCard(self, request: pb.PutRateCardRequest, context: grpc.aio.ServicerContext) -> pb.RateCard:
        msg = request.rate_card
        entries = [(_network(r.network), RateCard(r.cpm, r.cpc, r.reaction_multiplier)) for r in msg.rates]
        caller = current_caller()
        try:
            card = await self._rate_cards.put(msg.currency, entries, caller.subject if caller else "")
        except InvalidRateCard as exc:
            raise InvalidArgument(f"rate_card.{exc}") from None
        return rate_card_pb(card)
