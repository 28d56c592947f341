"""The pure rules of own posts: which URLs they may link to, and their synthetic content id."""

from __future__ import annotations

import pytest

from services.share.domain.own_posts import InvalidOwnUrl, check_own_url, normalise_url, own_post_content_id


@pytest.mark.parametrize(
    "url",
    ["https://blog.example.org/a?b=1", "http://example.com", "HTTPS://EXAMPLE.COM/x", "https://[::1]:8443/p"],
)
def test_absolute_http_urls_are_accepted_as_given(url):
    assert check_own_url(url) == url


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("", "required"),
        ("/relative", "absolute http"),
        ("example.com/page", "absolute http"),
        ("javascript:alert(1)", "absolute http"),
        ("ftp://example.com/file", "absolute http"),
        ("https:///no-host", "absolute http"),
        ("https://example.com/a b", "whitespace"),
        ("https://example.com/\r\nSet-Cookie:x", "whitespace"),
        ("https://example.com:99999/", "not a valid URL"),
        ("https://example.com/" + "a" * 2000, "at most 2000"),
    ],
)
def test_other_urls_are_refused_with_the_reason(url, match):
    with pytest.raises(InvalidOwnUrl, match=match):
        check_own_url(url)


def test_normalising_keeps_the_page_and_drops_what_does_not_name_another_page():
    assert normalise_url("HTTPS://Blog.Example.ORG:443/Talk?x=1#part") == "https://blog.example.org/Talk?x=1"
    assert normalise_url("http://example.com") == "http://example.com/"
    assert normalise_url("http://example.com:8080/a") == "http://example.com:8080/a"


def test_the_synthetic_id_is_the_advocates_page_and_never_an_items_id():
    a = own_post_content_id("aino", "https://blog.example.org/talk")
    assert a == own_post_content_id("aino", "HTTPS://BLOG.example.org/talk#again")
    assert a != own_post_content_id("ben", "https://blog.example.org/talk")
    assert a != own_post_content_id("aino", "https://blog.example.org/talk?v=2")
    # Content item ids are 32 hex digits: a ':' can never collide with one.
    assert a.startswith("own:") and len(a) == 28 and all(c in "0123456789abcdef" for c in a[4:])
