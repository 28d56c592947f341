"""Analytics settings: ADVOCACY_* env vars; dict-valued ones are JSON, e.g.
ADVOCACY_RATE_CARD='{"LINKEDIN": {"cpm": 30, "cpc": 5, "reaction_multiplier": 0.5}}'."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.analytics.domain.metrics import RateCard
from services.analytics.domain.rate_card import checked_rates
from services.common.stream import StreamSettings


class RateCardEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    cpm: float = Field(ge=0)
    cpc: float = Field(ge=0)
    reaction_multiplier: float = Field(ge=0)


# Indicative defaults only; admins set their own rate card (network names as in common.v1.Network
# without the NETWORK_ prefix).
DEFAULT_RATE_CARD = {
    "LINKEDIN": RateCardEntry(cpm=30.0, cpc=5.0, reaction_multiplier=0.5),
    "X": RateCardEntry(cpm=6.0, cpc=1.0, reaction_multiplier=0.2),
    "FACEBOOK": RateCardEntry(cpm=10.0, cpc=1.5, reaction_multiplier=0.3),
    "XING": RateCardEntry(cpm=20.0, cpc=3.0, reaction_multiplier=0.5),
    "INSTAGRAM": RateCardEntry(cpm=8.0, cpc=1.2, reaction_multiplier=0.2),
}
DEFAULT_ORGANIC_REACH = {"LINKEDIN": 0.1, "X": 0.05, "FACEBOOK": 0.06, "XING": 0.08, "INSTAGRAM": 0.1}


class AnalyticsSettings(StreamSettings):
    grpc_port: int = 50054
    metrics_port: int = 9104
    # Seed rate card version 1 only, when none is stored; later versions come from PutRateCard.
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    rate_card: dict[str, RateCardEntry] = Field(default_factory=lambda: dict(DEFAULT_RATE_CARD))
    # How stale a replica's copy of the rate card in force may get (a put through it applies at once).
    rate_card_refresh_seconds: float = Field(default=5.0, ge=0)
    # Share of potential reach a post reaches organically, per network: used ONLY for the labelled
    # impressions estimate, never in place of reported impressions.
    organic_reach_rate: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_ORGANIC_REACH))
    # Followers of the company's own channels per network (the amplification ratio's denominator).
    company_channel_audience: dict[str, int] = Field(default_factory=dict)
    # How long after its hourly window ends an event may reach Kafka (record timestamp) and still be
    # placed in its hourly and daily windows; later ones count in all-time figures only.
    allowed_lateness_seconds: float = Field(default=48 * 3600, ge=0)
    # Most events in one batch of the rollup agent. Large: a batch rewrites each rollup record it
    # touches once, however many of its events it holds, and a replay of a long history touches many.
    batch_max_events: int = Field(default=10_000, ge=1)

    # Each replica reads a stats query's rollup documents at most this often and answers from
    # memory meanwhile (0 = read on every call; services/common/read_cache.py); a query unasked for
    # the max-stale time is read again before it is answered. Dashboards repeat their questions;
    # this adds at most the ttl plus two reads to the pipeline's delay.
    stats_cache_seconds: float = Field(default=5.0, ge=0)
    stats_max_stale_seconds: float = Field(default=300.0, ge=0)

    @model_validator(mode="after")
    def _seed_rate_card_is_valid(self) -> AnalyticsSettings:
        try:  # what PutRateCard would accept
            checked_rates(self.currency, list(self.rate_cards().items()))
        except ValueError as exc:
            raise ValueError(f"ADVOCACY_RATE_CARD / ADVOCACY_CURRENCY (the seed rate card): {exc}") from None
        return self

    @property
    def allowed_lateness(self) -> timedelta:
        return timedelta(seconds=self.allowed_lateness_seconds)

    def rate_cards(self) -> dict[str, RateCard]:
        return {n: RateCard(e.cpm, e.cpc, e.reaction_multiplier) for n, e in self.rate_card.items()}
