from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from advocacy.common.v1.common_pb2 import Network
from advocacy.share.v1.share_pb2 import EngagementKind, EngagementReport, EngagementSource

from services.share.domain.engagement import InvalidReport, idempotency_id, validate_report
from services.share.domain.links import classify, fingerprint, is_bot, is_http_url, target_url, window_open

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def test_target_url_adds_utm_and_keeps_the_items_own_query():
    url = target_url(
        "https://example.com/news/plant?lang=fi&utm_source=evil#top",
        network=Network.NETWORK_LINKEDIN,
        campaign_id="",
        content_id="c1",
        share_id="s1",
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path, parts.fragment) == ("https", "example.com", "/news/plant", "top")
    assert parse_qs(parts.query) == {
        "lang": ["fi"],
        "utm_source": ["linkedin"],
        "utm_medium": ["advocacy"],
        "utm_campaign": ["c1"],  # no campaign: the content id
        "utm_content": ["s1"],
    }
    with_campaign = target_url(
        "https://e.com/", network=Network.NETWORK_X, campaign_id="q4", content_id="c", share_id="s"
    )
    assert parse_qs(urlsplit(with_campaign).query)["utm_campaign"] == ["q4"]


def test_only_http_urls_are_link_targets():
    assert is_http_url("https://example.com/a")
    assert not is_http_url("javascript:alert(1)")
    assert not is_http_url("/relative")


def test_fingerprint_is_salted_and_stable():
    a = fingerprint("s1", "10.0.0.1", FIREFOX)
    assert a == fingerprint("s1", "10.0.0.1", FIREFOX)
    assert a != fingerprint("s2", "10.0.0.1", FIREFOX)
    assert a != fingerprint("s1", "10.0.0.2", FIREFOX)
    assert "10.0.0.1" not in a and len(a) == 64


@pytest.mark.parametrize(
    ("ua", "bot"),
    [
        (FIREFOX, False),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1",
            False,
        ),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", True),
        ("LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)", True),
        ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", True),
        ("curl/8.5.0", True),
        ("", True),
    ],
)
def test_bots_are_recognised_by_user_agent(ua, bot):
    assert is_bot(ua) is bot


def test_click_classes():
    me = fingerprint("s", "1.2.3.4", FIREFOX)
    assert classify(user_agent=FIREFOX, actor_fingerprint=me, sharer_fingerprint=me).outcome == "self"
    assert classify(user_agent=FIREFOX, actor_fingerprint="other", sharer_fingerprint=me).counts
    assert classify(user_agent=FIREFOX, actor_fingerprint=me, sharer_fingerprint="").counts  # sharer unknown
    assert classify(user_agent="Googlebot/2.1", actor_fingerprint="x", sharer_fingerprint=me).outcome == "bot"


def test_one_window_per_30_minutes():
    window = timedelta(minutes=30)
    assert window_open(None, NOW, window)
    assert not window_open(NOW - timedelta(minutes=29, seconds=59), NOW, window)
    assert window_open(NOW - timedelta(minutes=30), NOW, window)


def report(**fields) -> EngagementReport:
    base = {
        "share_id": "s1",
        "kind": EngagementKind.ENGAGEMENT_KIND_COMMENT,
        "count": 1,
        "source": EngagementSource.ENGAGEMENT_SOURCE_NETWORK_WEBHOOK,
        "source_event_id": "li-123",
        "comment_text": "Are you hiring?",
    }
    base.update(fields)
    return EngagementReport(**base)


def test_a_valid_report_passes_and_is_idempotent_per_source_event():
    validate_report(report(), "reports[0]", NOW)
    assert idempotency_id(report()) == idempotency_id(report(share_id="other"))
    assert idempotency_id(report()) != idempotency_id(report(source=EngagementSource.ENGAGEMENT_SOURCE_IMPORT))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"share_id": ""}, "share_id"),
        ({"kind": EngagementKind.ENGAGEMENT_KIND_CLICK}, "kind"),
        ({"count": 0}, "count"),
        ({"source": EngagementSource.ENGAGEMENT_SOURCE_LINK_TRACKER}, "source"),
        ({"source_event_id": ""}, "source_event_id"),
        ({"kind": EngagementKind.ENGAGEMENT_KIND_REACTION}, "comment_text"),
        ({"comment_text": "x" * 10_001}, "comment_text"),
    ],
)
def test_invalid_reports_name_the_field(fields, field):
    with pytest.raises(InvalidReport, match=rf"^reports\[2\]\.{field}:"):
        validate_report(report(**fields), "reports[2]", NOW)
