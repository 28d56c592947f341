"""The demo company's planned history (services/demo/history.py): deterministic, keener advocates
enrolled earlier, most sharing in their first month, trained advocates sharing more, and every
share one the import accepts (enrolled then, the item live then, older than the quiet day)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.demo import history
from services.demo.company import generate

NOW = datetime(2026, 12, 7, 10, tzinfo=UTC)


def planned(seed: int = 42, advocates: int = 300):
    company = generate(seed=seed, advocates=advocates)
    items = [replace(i, content_id=f"c-{i.import_key}") for i in history.archive(company.seed, NOW)]
    enrolled = history.enrolment_times(company, company.seed, NOW)
    return company, items, enrolled, history.shares(company, company.seed, enrolled, items, NOW)


def test_the_same_seed_plans_the_same_history_and_another_seed_another():
    assert planned()[2:] == planned()[2:]
    assert planned(seed=7)[3] != planned()[3]


def test_most_advocates_joined_over_four_months_the_keenest_first():
    company, _, enrolled, _ = planned()
    assert len(enrolled) == round(0.8 * len(company.advocates))
    assert all(NOW - timedelta(days=history.HISTORY_DAYS + 1) < t < NOW for t in enrolled.values())
    assert len({f"{t:%Y-%m}" for t in enrolled.values()}) >= 4
    by_keenness = sorted(company.advocates, key=lambda a: -a.activity)
    keen = [enrolled[a.advocate_id] for a in by_keenness[:30]]
    later = [enrolled[a.advocate_id] for a in by_keenness[150:240]]
    assert sorted(keen)[len(keen) // 2] < sorted(later)[len(later) // 2]


def test_every_share_is_one_the_import_accepts():
    _, items, enrolled, shares = planned()
    by_id = {i.content_id: i for i in items}
    assert 500 < len(shares) < 3000  # a quick seed: a few batches
    assert len({(s.advocate_id, s.idempotency_key) for s in shares}) == len(shares)
    for s in shares:
        assert enrolled[s.advocate_id] <= s.shared_at < NOW - timedelta(days=history.QUIET_DAYS)
        if s.own_post_url:
            assert not s.content_id and s.own_post_url.startswith("https://")
        else:
            item = by_id[s.content_id]
            assert item.published_at <= s.shared_at < item.expires_at
    own = sum(1 for s in shares if s.own_post_url) / len(shares)
    assert 0.05 < own < 0.25


def test_advocates_share_most_in_their_first_month_some_stop_and_trained_ones_share_more():
    company, _, enrolled, shares = planned()
    month_since: Counter[int] = Counter()
    for s in shares:
        month_since[(s.shared_at - enrolled[s.advocate_id]).days // 30] += 1
    # Only advocates enrolled at least three months ago can share in months 0..2.
    old = {a for a, t in enrolled.items() if NOW - t > timedelta(days=100)}
    by_month = Counter((s.shared_at - enrolled[s.advocate_id]).days // 30 for s in shares if s.advocate_id in old)
    assert by_month[0] > by_month[1] > by_month[2]
    sharers = Counter(s.advocate_id for s in shares)
    assert 0 < len(sharers) < len(enrolled)  # some never share
    trained = [sharers[a] for a in enrolled if a in company.trained]
    untrained = [sharers[a] for a in enrolled if a not in company.trained]
    assert sum(trained) / len(trained) > sum(untrained) / len(untrained)


def test_shares_follow_the_stored_enrolment_so_a_later_run_plans_the_same_ones():
    company, items, enrolled, shares = planned()
    later = history.shares(company, company.seed, enrolled, items, NOW + timedelta(days=3))
    earlier = {(s.advocate_id, s.idempotency_key): s for s in shares}
    # A later run plans the same shares under the same keys (and perhaps a few more since).
    assert all(earlier.get((s.advocate_id, s.idempotency_key), s) == s for s in later)
    assert set(earlier) <= {(s.advocate_id, s.idempotency_key) for s in later}
