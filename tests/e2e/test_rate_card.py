"""The EMV rate card through the running platform: an admin stores a new version (gRPC and the
CLI) and an item's existing figures are repriced by it without a restart, naming the version;
other roles are refused, bad values are INVALID_ARGUMENT."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import grpc
import pytest
from advocacy.analytics.v1 import analytics_pb2 as pb
from advocacy.analytics.v1 import analytics_pb2_grpc
from advocacy.common.v1.common_pb2 import Network
from advocacy.share.v1 import share_pb2
from typer.testing import CliRunner

from services.cli.__main__ import app
from services.common.auth import ADMIN, ADVOCATE, SERVICE
from services.platform.supervisor import Platform
from tests.e2e.test_walking_skeleton import enroll, eventually, publish_item

pytestmark = pytest.mark.e2e

# The default rate card (services/analytics/config.py) is version 1: LinkedIn CPM 30, CPC 5, x0.5.
IMPRESSIONS, REACTIONS = 4000, 6


def item_emv(clients, content_id: str) -> pb.StatsSeries:
    return clients.analytics.GetStats(
        pb.GetStatsRequest(dimension=pb.DIMENSION_CONTENT, key=content_id, granularity=pb.GRANULARITY_ALL_TIME)
    )


@pytest.fixture(scope="module")
def engaged_item(clients) -> str:
    """An item with one LinkedIn share and reported impressions and reactions, counted."""
    item = publish_item(clients)
    advocate_id = enroll(clients)
    share = clients.share.RecordShare(
        share_pb2.RecordShareRequest(
            content_id=item.content_id,
            advocate_id=advocate_id,
            network=Network.NETWORK_LINKEDIN,
            idempotency_key=f"rate-card-{uuid.uuid4().hex[:6]}",
        )
    ).share
    clients.share.RecordEngagement(
        share_pb2.RecordEngagementRequest(
            reports=[
                share_pb2.EngagementReport(
                    share_id=share.share_id,
                    kind=kind,
                    count=count,
                    source=share_pb2.ENGAGEMENT_SOURCE_NETWORK_WEBHOOK,
                    source_event_id=f"{share.share_id}-{kind}",
                )
                for kind, count in (
                    (share_pb2.ENGAGEMENT_KIND_IMPRESSION, IMPRESSIONS),
                    (share_pb2.ENGAGEMENT_KIND_REACTION, REACTIONS),
                )
            ]
        )
    )

    def counted() -> bool:
        points = item_emv(clients, item.content_id).points
        return bool(points) and (points[0].impressions_reported, points[0].reactions) == (IMPRESSIONS, REACTIONS)

    assert eventually(counted, timeout=60), "the engagement never reached the item's figures"
    return item.content_id


def test_a_new_rate_card_reprices_existing_figures_and_names_its_version(clients, engaged_item: str):
    before = item_emv(clients, engaged_item)
    in_force = clients.analytics.GetRateCard(pb.GetRateCardRequest())
    assert before.rate_card_version == in_force.version and before.currency == in_force.currency
    linkedin = next(r for r in in_force.rates if r.network == Network.NETWORK_LINKEDIN)
    priced = linkedin.cpm * IMPRESSIONS / 1000 + linkedin.cpc * linkedin.reaction_multiplier * REACTIONS
    assert before.points[0].earned_media_value == pytest.approx(priced)

    new = pb.RateCard(
        currency="USD",
        rates=[pb.NetworkRate(network=Network.NETWORK_LINKEDIN, cpm=50, cpc=8, reaction_multiplier=2)],
    )
    stored = clients.analytics.PutRateCard(pb.PutRateCardRequest(rate_card=new))
    try:
        assert stored.version == in_force.version + 1 and stored.created_by == "e2e-admin"
        after = item_emv(clients, engaged_item)  # the same counts, no restart, no new events
        assert (after.rate_card_version, after.currency) == (stored.version, "USD")
        assert after.points[0].earned_media_value == pytest.approx(50 * IMPRESSIONS / 1000 + 8 * 2 * REACTIONS)
        overview = clients.analytics.GetProgramOverview(pb.GetProgramOverviewRequest())
        assert (overview.rate_card_version, overview.currency) == (stored.version, "USD")
        top = clients.analytics.TopContent(pb.TopContentRequest(metric=pb.TOP_METRIC_EARNED_MEDIA_VALUE))
        assert (top.rate_card_version, top.currency) == (stored.version, "USD")
        export = clients.analytics.ExportStatsCsv(
            pb.GetStatsRequest(dimension=pb.DIMENSION_CONTENT, key=engaged_item, granularity=pb.GRANULARITY_ALL_TIME)
        )
        assert export.csv.splitlines()[1].endswith(f",USD,{stored.version}")
    finally:  # the other tests of this platform keep the card they started with
        restore = pb.RateCard(currency=in_force.currency, rates=in_force.rates)
        clients.analytics.PutRateCard(pb.PutRateCardRequest(rate_card=restore))


@pytest.mark.parametrize(("role", "code"), [(ADVOCATE, "PERMISSION_DENIED"), (SERVICE, "PERMISSION_DENIED")])
def test_only_admins_read_or_change_the_rate_card(platform: Platform, role: str, code: str):
    with platform.channel("analytics", role, "rate-card-someone") as channel:
        stub = analytics_pb2_grpc.AnalyticsServiceStub(channel)
        good = pb.RateCard(currency="EUR", rates=[pb.NetworkRate(network=Network.NETWORK_X, cpm=1)])
        for call, request in (
            (stub.PutRateCard, pb.PutRateCardRequest(rate_card=good)),
            (stub.GetRateCard, pb.GetRateCardRequest()),
        ):
            with pytest.raises(grpc.RpcError) as err:
                call(request, timeout=10)
            assert err.value.code().name == code


def test_bad_values_are_invalid_arguments(clients):
    version = clients.analytics.GetRateCard(pb.GetRateCardRequest()).version
    for card, field in (
        (pb.RateCard(currency="Euro", rates=[pb.NetworkRate(network=Network.NETWORK_X)]), "rate_card.currency"),
        (pb.RateCard(currency="EUR", rates=[pb.NetworkRate(network=Network.NETWORK_X, cpm=-1)]), "rates[0].cpm"),
        (pb.RateCard(currency="EUR", rates=[pb.NetworkRate(network=99)]), "rates[0].network"),
        (pb.RateCard(currency="EUR", rates=[pb.NetworkRate(network=1, cpc=float("inf"))]), "rates[0].cpc"),
    ):
        with pytest.raises(grpc.RpcError) as err:
            clients.analytics.PutRateCard(pb.PutRateCardRequest(rate_card=card))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and field in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        clients.analytics.GetRateCard(pb.GetRateCardRequest(version=version + 1000))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert clients.analytics.GetRateCard(pb.GetRateCardRequest()).version == version  # nothing stored


def test_cli_shows_and_sets_the_rate_card(platform: Platform, clients, tmp_path: Path):
    env = {
        "ADVOCACY_ANALYTICS_ADDR": platform.address("analytics"),
        "ADVOCACY_TOKEN": platform.token(ADMIN, "cli"),
        "COLUMNS": "200",
    }
    runner = CliRunner()

    def cli(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == code, result.output
        return result.stdout

    shown = json.loads(cli("--json", "rate-card", "show"))
    # Options change the card in force: one network's rates, the others kept.
    changed = json.loads(cli("--json", "rate-card", "set", "--rate", "xing=21,3.5,0.25"))
    assert int(changed["version"]) == int(shown["version"]) + 1
    rates = {r["network"]: r for r in changed["rates"]}
    assert rates["NETWORK_XING"] == {"network": "NETWORK_XING", "cpm": 21, "cpc": 3.5, "reaction_multiplier": 0.25}
    assert len(rates) == len(shown["rates"])
    # A file in ADVOCACY_RATE_CARD's form with a currency; `show` prints the same card.
    path = tmp_path / "card.json"
    path.write_text(
        json.dumps({"currency": "GBP", "rates": {"LINKEDIN": {"cpm": 40, "cpc": 6, "reaction_multiplier": 1}}})
    )
    from_file = json.loads(cli("--json", "rate-card", "set", str(path)))
    assert from_file["currency"] == "GBP" and [r["network"] for r in from_file["rates"]] == ["NETWORK_LINKEDIN"]
    assert "rate card v" in cli("rate-card", "show") and "GBP" in cli("rate-card", "show")
    # What `show --json` printed is a valid file too: it restores the first card (as a new version).
    path.write_text(json.dumps(shown))
    restored = json.loads(cli("--json", "rate-card", "set", str(path)))
    assert (restored["currency"], restored["rates"]) == (shown["currency"], shown["rates"])
    bad = runner.invoke(app, ["rate-card", "set", "--currency", "euro"], env={**env, "COLUMNS": "300"})
    assert bad.exit_code == 1 and "rate_card.currency" in bad.output and "Traceback" not in bad.output
    also_bad = runner.invoke(app, ["rate-card", "set", "--rate", "linkedin=1,2"], env={**env, "COLUMNS": "300"})
    assert also_bad.exit_code == 2 and "CPM,CPC,REACTION_MULTIPLIER" in also_bad.output
