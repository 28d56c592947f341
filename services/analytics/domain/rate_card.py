"""The EMV rate card as versioned data: what a unit of attention is worth per network, and in which
currency. Pure: validation and the value object; storage and the copy in force live elsewhere."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from advocacy.common.v1.common_pb2 import Network

from services.analytics.domain.metrics import RateCard

# Facts and the rate card name networks as common.v1.Network without the NETWORK_ prefix.
NETWORKS = tuple(n.removeprefix("NETWORK_") for n in Network.keys() if n != "NETWORK_UNSPECIFIED")
_CURRENCY = re.compile(r"[A-Z]{3}")
RATE_FIELDS = ("cpm", "cpc", "reaction_multiplier")


class InvalidRateCard(ValueError):
    """A rate card that may not be stored; the message starts with the offending field's path."""


@dataclass(frozen=True)
class VersionedRateCard:
    """One stored version of the rate card (immutable; the newest is in force)."""

    version: int
    currency: str
    rates: Mapping[str, RateCard]
    created_at: datetime | None = None
    created_by: str = ""


def checked_rates(currency: str, entries: Sequence[tuple[str, RateCard]]) -> dict[str, RateCard]:
    """The rates of a rate card by network, or InvalidRateCard naming the first bad field: an ISO
    4217 code of three capital letters, at least one network, each a known one listed once, every
    value finite and >= 0."""
    if not _CURRENCY.fullmatch(currency):
        raise InvalidRateCard(f"currency: an ISO 4217 code of three capital letters (EUR), not {currency[:8]!r}")
    if not entries:
        raise InvalidRateCard("rates: at least one network (a network not listed is worth 0)")
    rates: dict[str, RateCard] = {}
    for i, (network, rate) in enumerate(entries):
        where = f"rates[{i}]"
        if network not in NETWORKS:
            raise InvalidRateCard(f"{where}.network: unknown network {network[:40]!r} (one of {', '.join(NETWORKS)})")
        if network in rates:
            raise InvalidRateCard(f"{where}.network: {network} is listed twice")
        for name in RATE_FIELDS:
            value = getattr(rate, name)
            if not math.isfinite(value) or value < 0:
                raise InvalidRateCard(f"{where}.{name}: must be a finite number >= 0, got {value}")
        rates[network] = rate
    return rates
