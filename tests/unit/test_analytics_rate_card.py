"""The EMV rate card as versioned data: validation, the copy in force per replica (in-memory store),
the seed from the settings, and how figures name the version they were priced with."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping

import pytest
from pydantic import ValidationError

from services.analytics.app.queries import AnalyticsQueries
from services.analytics.app.rate_cards import RateCards
from services.analytics.config import AnalyticsSettings
from services.analytics.domain import metrics as m
from services.analytics.domain.rate_card import InvalidRateCard, VersionedRateCard, checked_rates
from services.analytics.domain.report import Config, point, to_csv

LINKEDIN = m.RateCard(30.0, 5.0, 0.5)


def test_a_valid_rate_card_is_kept_by_network():
    rates = checked_rates("CHF", [("LINKEDIN", LINKEDIN), ("X", m.RateCard(0.0, 0.0, 0.0))])
    assert rates == {"LINKEDIN": LINKEDIN, "X": m.RateCard(0.0, 0.0, 0.0)}


@pytest.mark.parametrize(
    ("currency", "entries", "field"),
    [
        ("eur", [("LINKEDIN", LINKEDIN)], "currency"),
        ("EURO", [("LINKEDIN", LINKEDIN)], "currency"),
        ("", [("LINKEDIN", LINKEDIN)], "currency"),
        ("EUR", [], "rates:"),
        ("EUR", [("MYSPACE", LINKEDIN)], "rates[0].network"),
        ("EUR", [("UNSPECIFIED", LINKEDIN)], "rates[0].network"),
        ("EUR", [("LINKEDIN", LINKEDIN), ("LINKEDIN", LINKEDIN)], "rates[1].network"),
        ("EUR", [("X", m.RateCard(-1.0, 1.0, 1.0))], "rates[0].cpm"),
        ("EUR", [("X", m.RateCard(1.0, math.nan, 1.0))], "rates[0].cpc"),
        ("EUR", [("X", m.RateCard(1.0, 1.0, math.inf))], "rates[0].reaction_multiplier"),
    ],
)
def test_bad_rate_cards_name_the_field(currency, entries, field):
    with pytest.raises(InvalidRateCard) as err:
        checked_rates(currency, entries)
    assert str(err.value).startswith(field)


def test_the_seed_in_the_settings_is_checked_at_start(monkeypatch):
    monkeypatch.setenv("ADVOCACY_RATE_CARD", '{"MYSPACE": {"cpm": 1, "cpc": 1, "reaction_multiplier": 1}}')
    with pytest.raises(ValidationError, match="unknown network 'MYSPACE'"):
        AnalyticsSettings()


class FakeStore:
    """In-memory RateCardStore (versions 1, 2, ... like the repository), counting reads."""

    def __init__(self) -> None:
        self.versions: dict[int, VersionedRateCard] = {}
        self.reads = 0

    async def get(self, version: int) -> VersionedRateCard | None:
        self.reads += 1
        return self.versions.get(version)

    async def current(self) -> VersionedRateCard | None:
        self.reads += 1
        return self.versions[max(self.versions)] if self.versions else None

    async def put(self, currency: str, rates: Mapping[str, m.RateCard], by: str) -> VersionedRateCard:
        card = VersionedRateCard(max(self.versions, default=0) + 1, currency, dict(rates), None, by)
        self.versions[card.version] = card
        return card

    async def seed(self, currency: str, rates: Mapping[str, m.RateCard]) -> VersionedRateCard:
        self.versions.setdefault(1, VersionedRateCard(1, currency, dict(rates), None, "settings"))
        return self.versions[max(self.versions)]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_version_1_is_seeded_once_and_a_put_is_in_force_here_at_once():
    store, clock = FakeStore(), Clock()
    cards = RateCards(lambda: store, "EUR", {"LINKEDIN": LINKEDIN}, refresh_seconds=5, clock=clock)
    first = await cards.in_force()
    assert (first.version, first.currency, first.rates, first.created_by) == (
        1,
        "EUR",
        {"LINKEDIN": LINKEDIN},
        "settings",
    )
    # Another replica with other settings: version 1 stays the first one's.
    other = RateCards(lambda: store, "USD", {"X": LINKEDIN}, refresh_seconds=5, clock=clock)
    assert (await other.in_force()).currency == "EUR"

    reads = store.reads
    assert await cards.in_force() is first
    assert store.reads == reads  # from memory within the refresh period

    put = await cards.put("CHF", [("X", m.RateCard(6.0, 1.0, 0.2))], "alice")
    assert (put.version, put.currency, put.created_by) == (2, "CHF", "alice")
    assert await cards.in_force() is put  # this replica prices with it at once


async def test_another_replica_follows_within_the_refresh_period():
    store, clock = FakeStore(), Clock()
    here = RateCards(lambda: store, "EUR", {"LINKEDIN": LINKEDIN}, refresh_seconds=5, clock=clock)
    there = RateCards(lambda: store, "EUR", {"LINKEDIN": LINKEDIN}, refresh_seconds=5, clock=clock)
    assert (await there.in_force()).version == 1
    await here.put("EUR", [("LINKEDIN", m.RateCard(60.0, 10.0, 1.0))], "alice")
    clock.now += 4.9
    assert (await there.in_force()).version == 1  # its copy is still fresh
    clock.now += 0.2
    assert (await there.in_force()).version == 2
    assert (await there.newest()).version == 2  # GetRateCard reads the store now


async def test_an_invalid_put_stores_nothing():
    store = FakeStore()
    cards = RateCards(lambda: store, "EUR", {"LINKEDIN": LINKEDIN}, clock=Clock())
    await cards.in_force()
    with pytest.raises(InvalidRateCard):
        await cards.put("EUR", [("LINKEDIN", m.RateCard(-5.0, 1.0, 1.0))], "alice")
    assert list(store.versions) == [1]


def test_priced_queries_value_the_same_counts_with_the_card_given():
    config = Config(rate_card={"LINKEDIN": LINKEDIN}, organic_reach_rate={}, company_channel_audience={})
    queries = AnalyticsQueries(lambda: None, config, "EUR")  # type: ignore[arg-type,return-value]
    card = VersionedRateCard(7, "CHF", {"LINKEDIN": m.RateCard(60.0, 10.0, 1.0)})
    priced = queries.priced(card)
    assert (priced.currency, priced.config.rate_card) == ("CHF", card.rates)
    g = m.Group()
    g.add("a", "LINKEDIN", m.Totals(shares=1, impressions=1000, clicks=2, reactions=4))
    assert point({False: g}, queries.config, None).earned_media_value == 30 + 5 * (0.5 * 4 + 2)
    assert point({False: g}, priced.config, None).earned_media_value == 60 + 10 * (1.0 * 4 + 2)


def test_every_csv_row_names_currency_and_rate_card_version():
    g = m.Group()
    g.add("a", "LINKEDIN", m.Totals(shares=1, impressions=1000))
    config = Config(rate_card={"LINKEDIN": LINKEDIN}, organic_reach_rate={}, company_channel_audience={})
    rows = list(
        csv.DictReader(io.StringIO(to_csv([point({False: g}, config, None)], currency="CHF", rate_card_version=3)))
    )
    assert (rows[0]["earned_media_value"], rows[0]["currency"], rows[0]["rate_card_version"]) == ("30.0", "CHF", "3")
