"""Templates of every kind in English and Finnish, language fallback, escaping, and missing data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.notify.adapters.templates import JinjaRenderer, TemplateDataError
from services.notify.app.ports import PermanentDeliveryError
from services.notify.domain.language import format_number, resolve_language
from services.notify.domain.notification import ChannelName, Kind, Notification, Recipient

UNSUBSCRIBE = "https://advocacy.example/unsubscribe/tok?x=1&y=2"
NBSP = "\u00a0"

DATA: dict[Kind, dict[str, Any]] = {
    Kind.THANK_YOU: {
        "points": 1250,
        "entries": [
            {"rule": "share", "points": 1000, "content_title": "Our new plant in Oulu"},
            {"rule": "click", "points": 250, "content_title": ""},
        ],
        "reach": 2400,
        "clicks": 37,
    },
    Kind.NEW_CONTENT: {
        "title": "Spring launch",
        "summary": "What we build next",
        "url": "https://example.com/spring",
        "content_id": "c1",
    },
    Kind.LEADER_SHARED: {
        "leader_name": "Aino Virtanen",
        "title": "Spring launch",
        "url": "https://example.com/spring",
        "content_id": "c1",
    },
    Kind.DIGEST: {
        "period": "weekly",
        "new_items": [{"title": "Spring launch", "url": "https://example.com/spring"}],
        "points": 15300,
        "rank": 3,
        "reach": 12000,
    },
}

# A phrase each kind's text must hold per language: proof the right language's template was used.
PHRASES = {
    ("en", Kind.THANK_YOU): ("Thank you for sharing", "1,250 points", "2,400 people", "for sharing"),
    ("fi", Kind.THANK_YOU): ("Kiitos jakamisesta", f"1{NBSP}250 pistettä", f"2{NBSP}400 ihmistä", "Jakaminen: +1"),
    ("en", Kind.NEW_CONTENT): ("New to share: Spring launch", "What we build next", "https://example.com/spring"),
    ("fi", Kind.NEW_CONTENT): ("Uutta jaettavaa: Spring launch", "Lue ja jaa", "https://example.com/spring"),
    ("en", Kind.LEADER_SHARED): ("Aino Virtanen just shared", "from your team", "https://example.com/spring"),
    ("fi", Kind.LEADER_SHARED): ("Aino Virtanen jakoi juuri", "Tiimistäsi", "https://example.com/spring"),
    ("en", Kind.DIGEST): ("weekly advocacy digest", "15,300", "#3", "12,000 people"),
    ("fi", Kind.DIGEST): ("Viikon koonti", f"15{NBSP}300", "Sijoituksesi: 3.", f"12{NBSP}000 ihmistä"),
}


def notification(kind: Kind, language: str, data: dict[str, Any] | None = None) -> Notification:
    recipient = Recipient("adv-1", "Maija Meikäläinen", language, "Europe/Helsinki")
    created = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    return Notification("n-1", kind, recipient, created, DATA[kind] if data is None else data)


@pytest.fixture(scope="module")
def renderer() -> JinjaRenderer:
    return JinjaRenderer()


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("language", ["en", "fi"])
def test_each_kind_renders_subject_text_and_html_in_its_language(renderer, kind, language):
    message = renderer.render(notification(kind, language), ChannelName.EMAIL, UNSUBSCRIBE)
    whole = f"{message.subject}\n{message.text}"
    for phrase in PHRASES[(language, kind)]:
        assert phrase in whole, (phrase, whole)
    assert message.language == language
    assert "Maija Meikäläinen" in message.text
    assert UNSUBSCRIBE in message.text  # every message says how to stop them
    assert f'<html lang="{language}">' in message.html
    assert "Maija Meikäläinen" in message.html
    assert "https://advocacy.example/unsubscribe/tok?x=1&amp;y=2" in message.html
    assert "\n" not in message.subject


def test_finnish_region_falls_back_to_finnish_and_unknown_languages_to_english(renderer):
    finnish = renderer.render(notification(Kind.NEW_CONTENT, "fi-FI"), ChannelName.EMAIL, UNSUBSCRIBE)
    assert finnish.language == "fi"
    assert finnish.subject == "Uutta jaettavaa: Spring launch"
    unknown = renderer.render(notification(Kind.NEW_CONTENT, "xx"), ChannelName.EMAIL, UNSUBSCRIBE)
    assert unknown.language == "en"
    assert unknown.subject == "New to share: Spring launch"
    assert renderer.render(notification(Kind.NEW_CONTENT, "en_GB"), ChannelName.EMAIL, UNSUBSCRIBE).language == "en"


def test_resolve_language_prefers_the_exact_tag_then_the_primary_subtag():
    available = {"en", "fi", "sv-FI"}
    assert resolve_language("sv-FI", available) == "sv-FI"
    assert resolve_language("sv-fi", available) == "sv-FI"
    assert resolve_language("FI-fi", available) == "fi"
    assert resolve_language("sv-SE", available) == "en"
    assert resolve_language("", available) == "en"


def test_numbers_are_grouped_as_each_language_writes_them():
    assert format_number(1234567, "en") == "1,234,567"
    assert format_number(1234567, "fi") == f"1{NBSP}234{NBSP}567"
    assert format_number(1234.5, "fi-FI") == f"1{NBSP}234,5"
    assert format_number(1234.5, "en") == "1,234.5"
    assert format_number(999, "fi") == "999"


def test_a_title_with_markup_is_escaped_in_html_and_slack_but_kept_as_written_in_plain_text(renderer):
    title = '<script>alert("x")</script> & <@U123>'
    data = {**DATA[Kind.NEW_CONTENT], "title": title}
    email = renderer.render(notification(Kind.NEW_CONTENT, "en", data), ChannelName.EMAIL, UNSUBSCRIBE)
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;@U123&gt;" in email.html
    assert title in email.text  # plain text is not markup: shown as written
    slack = renderer.render(notification(Kind.NEW_CONTENT, "en", data), ChannelName.SLACK, UNSUBSCRIBE)
    assert slack.html == ""
    assert "&lt;script&gt;" in slack.text and "&lt;@U123&gt;" in slack.text and "<" not in slack.text
    assert "&amp;" in slack.text
    teams = renderer.render(notification(Kind.NEW_CONTENT, "en", data), ChannelName.TEAMS, UNSUBSCRIBE)
    assert teams.html == "" and title in teams.text


def test_a_missing_data_key_is_a_clear_permanent_error_naming_the_key(renderer):
    data = {k: v for k, v in DATA[Kind.THANK_YOU].items() if k != "reach"}
    with pytest.raises(TemplateDataError) as caught:
        renderer.render(notification(Kind.THANK_YOU, "fi", data), ChannelName.EMAIL, UNSUBSCRIBE)
    text = str(caught.value)
    assert "'reach' is undefined" in text
    assert "fi/thank_you" in text and "n-1" in text
    assert isinstance(caught.value, PermanentDeliveryError)  # re-rendering can never succeed


def test_a_link_that_is_not_http_is_refused(renderer):
    data = {**DATA[Kind.LEADER_SHARED], "url": "javascript:alert(1)"}
    with pytest.raises(TemplateDataError, match="http"):
        renderer.render(notification(Kind.LEADER_SHARED, "en", data), ChannelName.EMAIL, UNSUBSCRIBE)


def test_singulars_and_an_unranked_empty_digest(renderer):
    data = {"period": "daily", "new_items": [], "points": 1, "rank": None, "reach": 1}
    en = renderer.render(notification(Kind.DIGEST, "en", data), ChannelName.EMAIL, UNSUBSCRIBE)
    assert en.subject == "Your daily advocacy digest"
    assert "Nothing new to share this time." in en.text and "reached 1 person." in en.text
    assert "rank" not in en.text
    fi = renderer.render(notification(Kind.DIGEST, "fi", data), ChannelName.EMAIL, UNSUBSCRIBE)
    assert fi.subject.startswith("Päivän koonti")
    assert "Tällä kertaa ei uutta jaettavaa." in fi.text and "1 ihmisen" in fi.text
    assert "Sijoituksesi" not in fi.text
