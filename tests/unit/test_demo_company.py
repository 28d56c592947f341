"""The demo company is deterministic and shaped like a real one (pure; no servers)."""

from __future__ import annotations

from collections import Counter

from services.demo.activity import Rates
from services.demo.company import generate, targets


def test_the_same_seed_gives_the_same_company_and_another_seed_another():
    assert generate(seed=1) == generate(seed=1)
    assert generate(seed=1).advocates != generate(seed=2).advocates


def test_teams_leaders_and_heavy_tailed_audiences():
    company = generate()
    assert len(company.advocates) == 300 and len(company.items) == 40
    teams = Counter(a.team for a in company.advocates)
    assert len(teams) == 8 and min(teams.values()) >= 30
    assert Counter(a.team for a in company.advocates if a.leader) == dict.fromkeys(teams, 1)
    linkedin = sorted(a.networks["LINKEDIN"] for a in company.advocates if "LINKEDIN" in a.networks)
    median, top = linkedin[len(linkedin) // 2], linkedin[-1]
    assert top > 10 * median  # a heavy tail: a few advocates reach far more than most
    assert len({a.language for a in company.advocates}) >= 4 and len({a.timezone for a in company.advocates}) >= 5


def test_few_share_a_lot():
    weights = sorted((a.activity for a in generate().advocates), reverse=True)
    assert sum(weights[:30]) > 0.6 * sum(weights)  # the top 10% carry most of the activity


def test_campaigns_scheduled_and_expiring_items_and_targeting():
    company = generate()
    assert len({i.campaign_id for i in company.items if i.campaign_id}) == 5
    assert sum(i.publish_in is not None for i in company.items) == 5
    assert sum(i.expires_in is not None for i in company.items) == 5
    assert len({i.url for i in company.items}) == 40  # the URL identifies an item when seeding again
    german = next(i for i in company.items if i.languages == ("de",))
    assert all(targets(german, a) == (a.language == "de") for a in company.advocates)


def test_rates_come_from_the_environment():
    rates = Rates.from_env({"ADVOCACY_DEMO_SHARES_PER_SECOND": "4", "ADVOCACY_DEMO_CLICKS_PER_SECOND": "9"})
    assert (rates.shares_per_second, rates.clicks_per_second) == (4.0, 9.0)
    assert rates.engagement_reports_per_second == Rates().engagement_reports_per_second
